"""The file source reads JSON and CSV exports, from disk or S3, and fails closed.

GIVEN an export as HR systems write them (encodings, separators, their own headers),
WHEN the file source reads it, THEN the directory users are what the rows say, and
anything doubtful is either a failed read (nothing changes) or an incomplete one
(deprovisioning waits, the doubtful user gets no new access).
"""

from __future__ import annotations

import logging
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from connect_user_sync.config import ConfigError
from connect_user_sync.config.model import FileSourceConfig
from connect_user_sync.domain.models import GroupRule
from connect_user_sync.errors import DirectoryReadError
from connect_user_sync.sources.file import FileSource

O_CONNOR = "O\u2019Connor"  # a typographic apostrophe: 0x92 in cp1252
DATA = Path(__file__).resolve().parent.parent / "data"
RULES = [
    GroupRule("Agents", False, ("Agent",), "Basic"),
    GroupRule("g-sup", True, ("Sup",), "Sales"),
]
AGENTS = RULES[:1]
SUPERVISORS_AND_AGENTS = [
    GroupRule("Agents", False, ("A",), "B"),
    GroupRule("Supervisors", False, ("S",), "B"),
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
CUSTOM_COLUMNS = (
    ("id", "Employee ID"),
    ("upn", "Work Email"),
    ("email", "Work Email"),
    ("first_name", "Preferred Name"),
    ("last_name", "Legal Last Name"),
    ("enabled", "Worker Status"),
    ("groups", "Teams"),
)


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def _read(path: str, rules: list[GroupRule] = AGENTS, **settings: object):  # type: ignore[no-untyped-def]
    return FileSource(FileSourceConfig(path, **settings)).read(rules)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- basics


def test_csv_rows_become_directory_users(tmp_path: Path) -> None:
    snapshot = _read(_write(tmp_path, "hr.csv", CSV))
    users = {u.source_id: u for u in snapshot.users}
    assert snapshot.complete and set(users) == {"u1", "u2"}  # u3 is in no group in scope
    assert users["u1"].enabled and not users["u2"].enabled  # a blank cell is "not given"
    assert users["u2"].attributes["email"] == "bo.chen@example.com"
    assert {g.name: g.member_count for g in snapshot.groups} == {"Agents": 2}


def test_groups_by_id_match_through_the_groups_list(tmp_path: Path) -> None:
    (user,) = _read(_write(tmp_path, "d.json", JSON), RULES).users
    assert user.groups == ("Agents", "id:g-sup")


def test_s3_objects_are_read_with_the_configured_encoding() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="hr-exports")
        s3.put_object(Bucket="hr-exports", Key="connect/users.csv", Body=CSV.encode())
        body = (DATA / "export_cp1252.csv").read_bytes()
        s3.put_object(Bucket="hr-exports", Key="connect/export.csv", Body=body)
        snapshot = FileSource("s3://hr-exports/connect/users.csv", s3_client=s3).read(AGENTS)
        assert {u.source_id for u in snapshot.users} == {"u1", "u2"}
        config = FileSourceConfig("s3://hr-exports/connect/export.csv", encoding="cp1252")
        users = FileSource(config, s3_client=s3).read(AGENTS).users
        assert {u.last_name for u in users} >= {"Núñez", O_CONNOR}
        with pytest.raises(DirectoryReadError, match=r"missing\.csv.*s3:GetObject"):
            FileSource("s3://hr-exports/missing.csv", s3_client=s3).read(AGENTS)


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("export_cp1252.csv", {"encoding": "cp1252"}),
        ("export_utf8_bom.csv", {}),
        ("export_utf8_bom.csv", {"encoding": "cp1252"}),  # the BOM wins
        ("export_semicolon.csv", {}),
        ("export_tab.tsv", {}),
        ("export_semicolon.csv", {"delimiter": ";"}),
        (
            "export_custom_headers.csv",
            {"columns": CUSTOM_COLUMNS, "active_values": ("Active", "On Leave")},
        ),
    ],
)
def test_real_export_layouts_read_the_same_people(
    name: str, settings: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    snapshot = _read(str(DATA / name), SUPERVISORS_AND_AGENTS, **settings)
    users = {u.source_id: u for u in snapshot.users}
    assert snapshot.complete, snapshot.errors
    assert users["E100"].first_name == "José" and users["E100"].last_name == "Núñez"
    assert users["E101"].last_name == O_CONNOR and users["E101"].groups == (
        "Agents",
        "Supervisors",
    )
    assert users["E101"].attributes["upn"] == "zoe.oconnor@example.com"
    assert users["E101"].enabled and users["E103"].enabled
    assert not users["E102"].enabled  # Terminated
    # Extra columns: one warning for the whole file, not one per row.
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "ignoring" in warnings[0].getMessage()


def test_custom_headers_with_active_values_disable_anything_unlisted() -> None:
    snapshot = _read(
        str(DATA / "export_custom_headers.csv"),
        SUPERVISORS_AND_AGENTS,
        columns=CUSTOM_COLUMNS,
        active_values=("Active", "On Leave"),
    )
    enabled = {u.source_id: u.enabled for u in snapshot.users}
    assert enabled == {"E100": True, "E101": True, "E102": False, "E103": True, "E104": False}


def test_a_utf16_export_with_its_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes("id\tupn\tgroups\r\nu1\tzoë@example.com\tAgents\r\n".encode("utf-16"))
    (user,) = _read(str(path)).users
    assert user.attributes["upn"] == "zoë@example.com"


def test_an_explicit_delimiter_wins_over_detection(tmp_path: Path) -> None:
    path = _write(tmp_path, "hr.csv", "id|upn|groups\nu1|a@example.com|Agents\n")
    assert [u.source_id for u in _read(path, delimiter="|").users] == ["u1"]
    # Detected as "," the whole header is one unknown column: the error says what is missing.
    with pytest.raises(DirectoryReadError, match="users' id"):
        _read(path)


def test_an_ambiguous_separator_asks_for_file_delimiter(tmp_path: Path) -> None:
    path = _write(tmp_path, "hr.csv", "id;upn,groups\nu1;a,Agents\n")
    with pytest.raises(DirectoryReadError, match=r"line 1.*source\.file\.delimiter"):
        _read(path)


def test_unmapped_columns_and_keys_give_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    rows = "".join(f"u{i},u{i}@example.com,Agents,Sales,x\n" for i in range(50))
    snapshot = _read(_write(tmp_path, "hr.csv", "id,upn,groups,Department,Enabeld\n" + rows))
    assert snapshot.complete and len(snapshot.users) == 50
    (warning,) = caplog.records
    assert "'Department'" in warning.getMessage()
    assert "'Enabeld' (did you mean enabled?)" in warning.getMessage()


# --------------------------------------------------------------------------- failed reads


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"  \r\n\r\n", "is empty"),
        ("bom-only.csv", b"\xef\xbb\xbf", "is empty"),
        ("header.csv", b"id,upn,groups\r\n", r"header \(line 1\) but no users"),
        ("header-blank.csv", b"id,upn,groups\n\n\n", r"header \(line 1\) but no users"),
        ("empty.json", b'{"users": []}', "'users' list is empty"),
        ("no-groups.json", b'{"users": [], "groups": []}', "'users' list is empty"),
        ("broken.json", b'{"users": [\n  {"id": 1,}\n]}', r"line 2: not valid JSON"),
        ("list.json", b"[]", "JSON object with a 'users' list"),
        (
            "cp1252.csv",
            "id,upn,groups\nu1,jos\u00e9@x.com,Agents\n".encode("cp1252"),
            "line 2: byte 0xe9 at column 7 cannot be decoded as utf-8.*cp1252",
        ),
        ("utf16.csv", "id,upn,groups\n".encode("utf-16-le"), "NUL characters.*utf-16-le"),
    ],
)
def test_unusable_files_are_failed_reads_naming_file_line_and_fix(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DirectoryReadError, match=message) as caught:
        _read(str(path))
    text = str(caught.value)
    assert str(path) in text and "Fix:" in text and "does not exist" not in text


def test_a_file_that_is_not_cp1252_says_so(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    path.write_bytes(b"id,upn,groups\nu1,a\x81@x.com,Agents\n")  # 0x81 is unassigned in cp1252
    with pytest.raises(DirectoryReadError, match=r"line 2.*not cp1252"):
        _read(str(path), encoding="cp1252")


@pytest.mark.parametrize(
    ("header", "settings", "message"),
    [
        ("upn,groups", {}, "no column gives the users' id"),
        ("id,upn", {}, "no column gives the users' groups"),
        ("id,upn,groups,UPN", {}, "'UPN' appears twice"),
        (
            "Employee,upn,groups",
            {"columns": (("id", "Employee ID"),)},
            r"no column 'Employee ID' \(source\.file\.columns\.id\)",
        ),
    ],
)
def test_headers_that_cannot_feed_the_fields_are_failed_reads(
    tmp_path: Path, header: str, settings: dict[str, object], message: str
) -> None:
    path = _write(tmp_path, "hr.csv", f"{header}\nx,y,z,w\n")
    with pytest.raises(DirectoryReadError, match=message):
        _read(path, **settings)


# --------------------------------------------------------------------------- doubtful rows


def test_row_numbers_are_file_lines_and_spreadsheet_rows(tmp_path: Path) -> None:
    text = (
        "id,upn,enabled,groups,notes\n"  # line 1
        'u1,a@example.com,true,Agents,"two\nlines"\n'  # lines 2-3, spreadsheet row 2
        "u2,b@example.com,ture,Agents,\n"  # line 4, spreadsheet row 3
    )
    snapshot = _read(_write(tmp_path, "hr.csv", text))
    (error,) = snapshot.errors
    assert error.startswith("hr.csv line 4 (spreadsheet row 3): (id 'u2') enabled value 'ture'")
    assert [u.source_id for u in snapshot.users] == ["u1"]


def test_a_field_over_the_csv_limit_is_an_error_for_its_row_only(tmp_path: Path) -> None:
    huge = "x" * (200 * 1024)
    text = f'id,upn,groups,notes\nu1,a@example.com,Agents,"{huge}"\nu2,b@example.com,Agents,\n'
    snapshot = _read(_write(tmp_path, "hr.csv", text))
    assert not snapshot.complete
    (error,) = snapshot.errors
    assert error.startswith("hr.csv line 2:") and "field larger than field limit" in error
    assert [u.source_id for u in snapshot.users] == ["u2"]


def test_a_row_with_missing_fields_is_doubtful(tmp_path: Path) -> None:
    text = "id,upn,groups\nu1,a@example.com\nu2,b@example.com,Agents,\n"
    snapshot = _read(_write(tmp_path, "hr.csv", text))
    assert snapshot.errors == (
        "hr.csv line 2: has 2 fields where the header has 3 (separator: comma); check the quoting of this line",
    )
    assert [u.source_id for u in snapshot.users] == ["u2"]  # a trailing empty field is fine


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ('{"upn": "a@example.com", "groups": ["Agents"]}', "no 'id'"),
        ('{"id": "u1", "groups": "Agents"}', "'groups' must be a list"),
        ('{"id": "u1", "groups": ["Agents", 3]}', "'groups' must be a list"),
        (
            '{"id": "u1", "first_name": 5, "groups": ["Agents"]}',
            "'first_name' must be text, not a number (5)",
        ),
        (
            '{"id": "u1", "email": ["a@x.com"], "groups": ["Agents"]}',
            "'email' must be text, not a list",
        ),
        (
            '{"id": "u1", "upn": {"v": 1}, "groups": ["Agents"]}',
            "'upn' must be text, not an object",
        ),
        ('{"id": true, "groups": ["Agents"]}', "'id' must be text, not a boolean"),
        (
            '{"id": "u1", "enabled": "ture", "groups": ["Agents"]}',
            "enabled value 'ture' is not recognised",
        ),
        ('{"id": "u1", "enabled": [], "groups": ["Agents"]}', "'enabled' is a list"),
        ('"u1"', "expected an object"),
    ],
)
def test_doubtful_json_rows_make_the_read_incomplete(
    tmp_path: Path, row: str, problem: str
) -> None:
    good = '{"id": "ok", "upn": "b@example.com", "groups": ["Agents"]}'
    path = _write(tmp_path, "d.json", f'{{"users": [\n  {good},\n  {row}\n]}}')
    snapshot = _read(path)
    assert not snapshot.complete
    (error,) = snapshot.errors
    assert error.startswith("d.json line 3:") and problem in error
    assert [u.source_id for u in snapshot.users] == ["ok"]


def test_json_keys_can_be_mapped_and_unknown_keys_are_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    doc = (
        '{"users": [{"employeeId": 42, "mail": "a@example.com", "teams": ["Agents"], "dept": "x"}]}'
    )
    path = _write(tmp_path, "d.json", doc)
    columns = (("id", "employeeId"), ("upn", "mail"), ("groups", "teams"))
    (user,) = _read(path, columns=columns).users
    assert user.source_id == "42" and user.attributes["upn"] == "a@example.com"
    (warning,) = caplog.records
    assert "1 key(s)" in warning.getMessage() and "'dept'" in warning.getMessage()
    with pytest.raises(DirectoryReadError, match="upn: 'email'"):
        _read(path, columns=(("id", "employeeId"), ("upn", "email"), ("groups", "teams")))


def test_a_repeated_id_leaves_every_copy_out(tmp_path: Path) -> None:
    text = "id,upn,enabled,groups\nu1,a@example.com,yes,Agents\nu1,b@example.com,ture,Agents\nu2,c@example.com,yes,Agents\n"
    snapshot = _read(_write(tmp_path, "hr.csv", text))
    assert [u.source_id for u in snapshot.users] == ["u2"]
    assert "hr.csv: id 'u1' appears on line 2, line 3" in " ".join(snapshot.errors)


def test_a_json_document_that_lists_its_groups_may_have_no_members(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.json", '{"users": [], "groups": [{"id": "g1", "name": "Agents"}]}')
    snapshot = _read(path)
    assert snapshot.complete and snapshot.users == ()
    assert [(g.name, g.member_count) for g in snapshot.groups] == [("Agents", 0)]


def test_a_group_no_row_lists_is_a_config_error_with_the_closest_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "hr.csv", "id,upn,groups\nu1,a@example.com,Agent\n")
    with pytest.raises(ConfigError, match="did you mean 'Agent'") as caught:
        _read(path)
    assert caught.value.path == "groups[0].name"


def test_a_group_missing_from_a_doubtful_file_is_an_incomplete_read(tmp_path: Path) -> None:
    path = _write(tmp_path, "hr.csv", 'id,upn,groups\nu1,a@example.com,Other\nu2,"b,Agents\n')
    snapshot = _read(path)
    assert not snapshot.complete
    assert any("group 'Agents' is in no readable row" in e for e in snapshot.errors)
