"""docs/directives.md documents every directive mod_lbx registers and the
member keys it adds, each in the manual's shape (Syntax, Default, Context,
Description, Example)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ("Syntax", "Default", "Context", "Description", "Example")
# Member keys mod_lbx adds or extends: the source that handles each, and
# a string literal it must hold (the key, or what mod_lbx adds to it).
MEMBER_KEYS = {"ejectfails": ("lbx_conf.c", "ejectfails"),
               "slowstart": ("lbx_conf.c", "slowstart"),
               "hctimeout": ("hcheck_conf.c", "hctimeout"),
               "hchost": ("hcheck_conf.c", "hchost"),
               "hcconsecutive": ("hcheck_conf.c", "hcconsecutive"),
               "hcexpr": ("hcheck_conf.c", "hcexpr"),
               "lbmethod": ("lbmethods/bylatency.c", "bylatency")}


def sections():
    text = (ROOT / "docs" / "directives.md").read_text()
    return {m.group(1): m.group(2) for m in re.finditer(
        r"^## (\S+)\n(.*?)(?=^#|\Z)", text, re.S | re.M)}


def test_every_registered_directive_is_documented():
    table = (ROOT / "mod_lbx.c").read_text()
    names = re.findall(r'AP_INIT_[A-Z0-9_]+\("([A-Za-z]+)"', table)
    assert len(names) >= 13
    docs = sections()
    for name in names:
        assert name in docs, "%s is not in docs/directives.md" % name
        for field in FIELDS:
            assert "**%s:**" % field in docs[name], (name, field)


def test_member_keys_are_documented_and_exist():
    docs = sections()
    for key, (source, literal) in MEMBER_KEYS.items():
        assert key in docs, key
        for field in FIELDS:
            assert "**%s:**" % field in docs[key], (key, field)
        assert '"%s"' % literal in (ROOT / source).read_text(), (key, source)
