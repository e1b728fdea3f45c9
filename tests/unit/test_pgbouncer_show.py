"""show_config_value: the text SHOW CONFIG prints for a [pgbouncer] value written in pgbouncer.ini.

Every row of SHOWN and REFUSED was seen on PgBouncer 1.24.1 (Debian 13), and
tests/integration/test_pgbouncer_readback.py checks each of them again on that binary: it writes
the `key = text` lines into a file, starts PgBouncer on it and reads SHOW CONFIG back (SHOWN), or
sees PgBouncer refuse the file (REFUSED)."""

from __future__ import annotations

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pgbouncer_show import (
    SHOW_CONFIG_TYPES,
    show_config_value,
    shows_default,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import pgbouncer_settings

RELEASE = "1.24.1"
HOSTILE = "SELECT 'it''s' \"q\" #1; a=b \\ é 漢字 😀 à"

# (type, key, text after "key = " in pgbouncer.ini, what SHOW CONFIG prints): the key is where
# the integration test writes it (a key whose value cannot lock the test out of the console).
SHOWN = [
    # integer: strtol base 0 (octal, hex, sign), wrapped into a C int, printed with %d
    ("integer", "default_pool_size", "25", "25"),
    ("integer", "max_client_conn", "2147483647", "2147483647"),
    ("integer", "sbuf_loopcnt", "010", "8"),
    ("integer", "min_pool_size", "0x1F", "31"),
    ("integer", "stats_period", "0X1f", "31"),
    ("integer", "reserve_pool_size", "-1", "-1"),
    ("integer", "max_db_connections", "2147483648", "-2147483648"),
    ("integer", "max_user_connections", "4294967297", "1"),
    ("integer", "listen_backlog", "+7", "7"),
    ("integer", "max_prepared_statements", "00", "0"),
    ("integer", "tcp_keepcnt", "9999999999999999999999", "-1"),  # strtol saturates at LONG_MAX
    ("integer", "tcp_keepidle", "-9999999999999999999999", "0"),  # ... and at LONG_MIN
    # boolean: a C int like any other; PgBouncer does not reduce it to 0/1
    ("boolean", "log_stats", "0", "0"),
    ("boolean", "server_round_robin", "1", "1"),
    ("boolean", "server_fast_close", "2", "2"),
    ("boolean", "application_name_add_host", "-1", "-1"),
    ("boolean", "log_pooler_errors", "0x0", "0"),
    # mode: an int too, so the octal file mode shows in decimal
    ("mode", "unix_socket_mode", "0750", "488"),
    ("mode", "unix_socket_mode", "0777", "511"),
    ("mode", "unix_socket_mode", "384", "384"),  # no leading 0: decimal 384 (0600)
    ("mode", "unix_socket_mode", "0x1C0", "448"),
    # size
    ("size", "pkt_buf", "8192", "8192"),
    ("size", "pkt_buf", "010000", "4096"),
    ("size", "max_packet_size", "2147483647", "2147483647"),
    ("size", "tcp_socket_buffer", "0x1000", "4096"),
    # time: strtod seconds -> whole microseconds (truncated) -> %g of the seconds
    ("time", "server_check_delay", "30", "30"),
    ("time", "server_check_delay", "-0", "0"),
    ("time", "server_connect_timeout", "0.25", "0.25"),
    ("time", "server_connect_timeout", "0.3", "0.3"),
    ("time", "server_login_retry", "1234567", "1.23457e+06"),
    ("time", "server_login_retry", "4.35", "4.35"),
    ("time", "dns_max_ttl", "2147483647", "2.14748e+09"),
    ("time", "dns_max_ttl", "0x1.8p1", "3"),
    ("time", "dns_nxdomain_ttl", "0.000001", "1e-06"),
    ("time", "dns_zone_check_period", "1.000001", "1"),  # 1e6 * 1.000001 = 1000000.99... -> 1000000 us
    ("time", "query_timeout", "1e-07", "0"),  # below one microsecond: 0, which means "off"
    ("time", "query_timeout", "0.0000015", "1e-06"),
    ("time", "autodb_idle_timeout", "123456.5", "123456"),  # %g: six significant digits
    ("time", "reserve_pool_timeout", "999999.5", "1e+06"),
    ("time", "query_wait_timeout", "1e3", "1000"),
    ("time", "cancel_wait_timeout", "1.5e-3", "0.0015"),
    ("time", "suspend_timeout", ".5", "0.5"),
    ("time", "server_idle_timeout", "100000", "100000"),
    ("time", "server_lifetime", "1000000", "1e+06"),
    ("time", "idle_transaction_timeout", "0x10", "16"),
    # enum: case-insensitive match, printed as PgBouncer spells it
    ("enum", "pool_mode", "Transaction", "transaction"),
    ("enum", "pool_mode", "STATEMENT", "statement"),
    ("enum", "server_tls_sslmode", "VERIFY-FULL", "verify-full"),
    ("enum", "auth_type", "Scram-SHA-256", "scram-sha-256"),
    ("enum", "client_tls_sslmode", "disable", "disable"),
    # string, path, list: the text itself, whatever it holds
    ("string", "server_reset_query", HOSTILE, HOSTILE),
    ("string", "server_reset_query", "x" * 300 + "Å", "x" * 300 + "Å"),
    ("string", "job_name", '"quoted" value', '"quoted" value'),
    ("string", "syslog_ident", "#;= not a comment", "#;= not a comment"),
    ("string", "client_tls_ciphers", "'single quoted'", "'single quoted'"),
    ("string", "server_check_query", "", ""),
    ("string", "syslog_facility", "local7 \t ", "local7"),  # the ini parser drops trailing whitespace
    ("path", "auth_hba_file", "/x y/é #;=.conf", "/x y/é #;=.conf"),
    ("path", "resolv_conf", "~/resolv.conf", "~/resolv.conf"),  # no tilde expansion
    ("path", "client_tls_ca_file", "relative/ca.pem", "relative/ca.pem"),
    ("path", "auth_ident_file", "/tmp/ü漢😀", "/tmp/ü漢😀"),
    ("list", "admin_users", "a, b ,c", "a, b ,c"),  # not re-joined
    ("list", "ignore_startup_parameters", "extra_float_digits,options", "extra_float_digits,options"),
    ("list", "stats_users", "", ""),
    ("list", "listen_addr", "127.0.0.1, ::1", "127.0.0.1, ::1"),
]

# (type, key, text) PgBouncer refuses to load ("invalid value ... for parameter").
REFUSED = [
    ("integer", "default_pool_size", ""),
    ("integer", "default_pool_size", "0x"),
    ("integer", "default_pool_size", "08"),
    ("integer", "default_pool_size", "12abc"),
    ("integer", "default_pool_size", "1.5"),
    ("boolean", "log_stats", "on"),
    ("boolean", "log_stats", "true"),
    ("mode", "unix_socket_mode", "0o750"),
    ("size", "pkt_buf", "4k"),
    ("time", "query_timeout", ""),
    ("time", "query_timeout", "-1"),
    ("time", "query_timeout", "1s"),
    ("time", "query_timeout", "1e400"),
    ("time", "query_timeout", "1e-400"),
    ("time", "query_timeout", "1e-310"),
    ("enum", "pool_mode", ""),
    ("enum", "pool_mode", "sometimes"),
    ("enum", "pool_mode", "transactión"),
]

# Accepted by PgBouncer, but what it stores is undefined in C or depends on the key: no answer.
UNANSWERED = [
    ("time", "inf"),  # 1.24.1 on x86-64 showed 0
    ("time", "INFINITY"),
    ("time", "nan"),  # 1.24.1 on x86-64 showed 9.22337e+12
    ("time", "5e13"),  # more than 2^64 microseconds; showed 0
    ("time", "18446744073709.6"),
    ("size", "4294967296"),  # max_packet_size (unsigned) and pkt_buf (int) differ out of range
    ("size", "-1"),
]


@pytest.mark.parametrize(("setting_type", "key", "text", "shown"), SHOWN)
def test_show_config_value(setting_type, key, text, shown):
    assert show_config_value(setting_type, text) == shown


def choices_of(key):
    return pgbouncer_settings.load_table().get("pgbouncer", key).choices_in(RELEASE)


@pytest.mark.parametrize(("setting_type", "key", "text"), REFUSED)
def test_values_pgbouncer_refuses_have_no_display(setting_type, key, text):
    choices = choices_of(key) if setting_type == "enum" else None
    with pytest.raises(ValueError):
        show_config_value(setting_type, text, choices=choices)


@pytest.mark.parametrize(("setting_type", "key", "text", "shown"), [r for r in SHOWN if r[0] == "enum"])
def test_enum_values_are_checked_against_the_choices_given(setting_type, key, text, shown):
    assert show_config_value(setting_type, text, choices=choices_of(key)) == shown
    assert show_config_value("enum", "sometimes") == "sometimes"  # no choices, no check


@pytest.mark.parametrize(("setting_type", "text"), UNANSWERED)
def test_undefined_values_have_no_display(setting_type, text):
    with pytest.raises(ValueError):
        show_config_value(setting_type, text)


@pytest.mark.parametrize(
    ("setting_type", "text", "message"),
    [
        ("float", "1", "unknown setting type 'float'"),
        ("string", "DISCARD ALL\nauth_type = trust", "does not fit on one ini line"),
        ("string", "a\0b", "does not fit on one ini line"),
        ("time", "-1", "is negative"),
        ("time", "1e-400", "underflows"),
        ("time", "1e400", "overflows"),
        ("integer", "1.5", "not an integer"),
    ],
)
def test_errors_say_why(setting_type, text, message):
    with pytest.raises(ValueError, match=message):
        show_config_value(setting_type, text)


def test_every_type_of_the_settings_table_is_handled():
    table = pgbouncer_settings.load_table()
    types = {setting.type for setting in table.sections["pgbouncer"].values()}
    assert types <= SHOW_CONFIG_TYPES
    assert {row[0] for row in SHOWN} == types, "each type needs a measured row"


def test_the_table_keys_have_the_type_of_their_row():
    table = pgbouncer_settings.load_table()
    for setting_type, key, *_ in SHOWN + REFUSED:
        setting = table.get("pgbouncer", key)
        assert setting is not None and setting.exists_in(RELEASE), key
        assert setting.type == setting_type, key


# (SHOW CONFIG value, default column as pgbouncer_console gives it (NULL as ""), unset?): rows of
# PgBouncer 1.24.1's SHOW CONFIG; the integration test checks every default on the binary.
DEFAULT_ROWS = [
    ("511", "0777", True),  # unix_socket_mode: the default column is the raw text
    ("0", "", True),  # verbose: NULL default, the int shows 0
    ("", "", True),  # auth_user: NULL both
    ("3600", "3600", True),
    ("select 1", "select 1", True),
    ("IntervalStyle", "IntervalStyle", True),
    ("488", "0777", False),
    ("25", "20", False),
    ("0.5", "0", False),
    ("1.23457e+06", "3600", False),
    ("transaction", "session", False),
]


@pytest.mark.parametrize(("value", "default", "unset"), DEFAULT_ROWS)
def test_shows_default(value, default, unset):
    assert shows_default(value, default) is unset
