"""The file source reads JSON and CSV, from disk or S3, and flags anything doubtful."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from connect_user_sync.config import ConfigError
from connect_user_sync.domain.models import GroupRule
from connect_user_sync.errors import DirectoryReadError
from connect_user_sync.sources.file import FileSource

RULES = [
    GroupRule("Agents", False, ("Agent",), "Basic"),
    GroupRule("g-sup", True, ("Sup",), "Sales"),
]
CSV = """id,upn,email,first_name,last_name,enabled,groups
u1,ana@example.com,ana@example.com,Ana,Lima,,Agents
u2,bo@example.com,bo.chen@example.com,Bo,Chen,false,Agents|Supervisors
u3,cy@example.com,,Cy,,yes,Other
"""
JSON = (
    '{"users": [{"id": "u1", "upn": "ana@example.com", "groups": ["Agents", "Supervisors"]}],'
    ' "groups": [{"id": "g-sup", "name": "Supervisors"}, {"id": "g-a", "name": "Agents"}]}'
)


def test_csv_rows_become_directory_users(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    path.write_text(CSV, encoding="utf-8")
    snapshot = FileSource(str(path)).read(RULES[:1])
    users = {u.source_id: u for u in snapshot.users}
    assert snapshot.complete and set(users) == {"u1", "u2"}  # u3 is in no group in scope
    assert users["u1"].enabled and not users["u2"].enabled
    assert users["u2"].attributes["email"] == "bo.chen@example.com"
    assert {g.name: g.member_count for g in snapshot.groups} == {"Agents": 2}


def test_groups_by_id_match_through_the_groups_list(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(JSON, encoding="utf-8")
    (user,) = FileSource(str(path)).read(RULES).users
    assert user.groups == ("Agents", "id:g-sup")


def test_s3_objects_are_read(tmp_path: Path) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="hr-exports")
        s3.put_object(Bucket="hr-exports", Key="connect/users.csv", Body=CSV.encode())
        snapshot = FileSource("s3://hr-exports/connect/users.csv", s3_client=s3).read(RULES[:1])
        assert {u.source_id for u in snapshot.users} == {"u1", "u2"}
        with pytest.raises(DirectoryReadError, match=r"missing\.csv"):
            FileSource("s3://hr-exports/missing.csv", s3_client=s3).read(RULES[:1])


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ('{"upn": "a@example.com", "groups": ["Agents"]}', "no 'id'"),
        (
            '{"id": "u1", "upn": "a@example.com", "groups": ["Agents"], "mail": "x"}',
            "unknown field",
        ),
        ('{"id": "u1", "groups": "Agents"}', "must be a list"),
    ],
)
def test_doubtful_rows_make_the_read_incomplete(tmp_path: Path, row: str, problem: str) -> None:
    path = tmp_path / "d.json"
    good = '{"id": "ok", "upn": "b@example.com", "groups": ["Agents"]}'
    path.write_text(f'{{"users": [{row}, {good}]}}', encoding="utf-8")
    snapshot = FileSource(str(path)).read(RULES[:1])
    assert not snapshot.complete
    assert problem in " ".join(snapshot.errors)


def test_a_group_the_file_does_not_know_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('{"users": [], "groups": []}', encoding="utf-8")
    with pytest.raises(ConfigError, match="does not exist"):
        FileSource(str(path)).read(RULES[:1])


def test_unparseable_file_is_a_failed_read(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(DirectoryReadError, match="not valid JSON"):
        FileSource(str(path)).read(RULES[:1])
