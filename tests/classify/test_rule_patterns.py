"""errorRules patterns: RE2 syntax, searched case-insensitively, Python-only syntax refused with a hint."""

from __future__ import annotations

import pytest

from policy_engine.classify.rule_patterns import (
    MAX_PROGRAM_SIZE,
    MAX_TOTAL_PROGRAM_SIZE,
    RulePattern,
    RulePatternError,
    compile_rule_pattern,
    total_size_problem,
)


def test_a_pattern_is_searched_anywhere_and_case_insensitively() -> None:
    pattern = compile_rule_pattern("spend cap")
    assert isinstance(pattern, RulePattern) and pattern.pattern == "spend cap"
    assert pattern.search("400 Your org hit its SPEND CAP for this month")
    assert not pattern.search("400 spending capped")
    assert compile_rule_pattern("ÉCHEC").search("échec de la requête")
    assert compile_rule_pattern("(?-i:Overage)").search("overage Overage")
    assert not compile_rule_pattern("(?-i:Overage)").search("OVERAGE")


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        (r"(?P<what>credit) balance", "Your credit balance is too low", True),  # Python named groups are fine
        (r"(?<what>credit) balance", "Your credit balance is too low", True),
        (r"quota\z", "daily quota", True),
        (r"quota\z", "daily quota exceeded", False),
        (r"^429\b", "429 too many", True),
        (r"\p{Nd}{3}", "code ٤٢٩", True),  # \p{Nd} is Unicode
        (r"\d{3}", "code ٤٢٩", False),  # \d is ASCII in RE2
        (r"exceeded$", "quota exceeded\n", False),  # $ is the very end of the text
        (r"(?m)exceeded$", "quota exceeded\nretry later", True),
        (r"[[:digit:]]+ tokens", "prompt is 250000 tokens long", True),
    ],
)
def test_re2_syntax_and_its_differences_from_python(pattern: str, text: str, found: bool) -> None:
    assert compile_rule_pattern(pattern).search(text) is found


def test_text_that_is_not_valid_unicode_is_searched_without_raising() -> None:
    pattern = compile_rule_pattern("quota")
    assert pattern.search("\ud800 quota \udfff")
    assert not pattern.search("\ud800")


@pytest.mark.parametrize(
    "pattern",
    [r"(.|.)*x$", r"(a|a)*$", r"(?:a|aa)+$", r"(.*a){25}", r"(a+)+$", r"(a|aa)*b", r"^(\w+\s?)*$"],
)
def test_patterns_that_make_python_backtrack_are_accepted(pattern: str) -> None:
    compiled = compile_rule_pattern(pattern)
    assert 0 < compiled.size <= MAX_PROGRAM_SIZE


@pytest.mark.parametrize(
    ("pattern", "message", "hint"),
    [
        ("quota(?= exceeded)", "lookahead (?=...) is not supported", "'quota exceeded'"),
        ("quota(?! exceeded)", "negative lookahead", "first matching errorRule wins"),
        ("(?<=quota )exceeded", "lookbehind (?<=...) is not supported", "'quota exceeded'"),
        ("(?<!soft )limit", "negative lookbehind", "first matching errorRule wins"),
        (r"(limit) \1", r"backreference \1 is not supported", "write the repeated text out"),
        ("(?P<w>limit) (?P=w)", "backreference (?P=name)", "write the repeated text out"),
        (r"(?P<w>x)\k<w>", r"escape \k", "backreferences are not supported"),
        ("a*+b", "possessive quantifier '*+'", "write '*' alone"),
        ("a{2,5}+b", "possessive quantifier '{2,5}+'", "write '{2,5}' alone"),
        ("(?>quota)", "atomic group", "write (?:...)"),
        (r"exceeded\Z", r"escape \Z is not supported", r"\z"),
        ("(?x) quota  exceeded", "inline flag (?x)", "remove (?x)"),
        (r"(?a)\w+", "inline flag (?a)", "ASCII already"),
        ("(?#why)quota", "comment (?#...)", "remove the comment"),
        ("(a)?(?(1)b|c)", "conditional", "one errorRule per alternative"),
        (r"\u20ac", r"escape \u", r"\x{20AC}"),
        (r"\N{EURO SIGN}", r"escape \N", r"\x{...}"),
        ("a{1001}", "too large", "smaller counts"),
        ("(a{100}){100}", "nested repeats multiplied", "smaller counts"),
        ("rate[limit", "not a valid regular expression: missing ]", "escape special characters"),
        ("(quota", "missing )", "escape special characters"),
        ("a**", "repeats a repeat", "remove one"),
        ("\ud800", "not valid Unicode", r"\x{...}"),
    ],
)
def test_python_only_syntax_is_refused_with_what_to_write_instead(pattern: str, message: str, hint: str) -> None:
    with pytest.raises(RulePatternError) as caught:
        compile_rule_pattern(pattern)
    assert message in caught.value.message
    assert hint in caught.value.hint
    assert isinstance(caught.value, ValueError)


def test_a_pattern_with_too_large_a_program_is_refused() -> None:
    fits = compile_rule_pattern("[ab]*a[ab]{999}c")
    assert fits.size <= MAX_PROGRAM_SIZE
    with pytest.raises(RulePatternError, match="instructions") as caught:
        compile_rule_pattern("[ab]*a[ab]{999}c|[ab]*b[ab]{999}c")
    assert "several errorRules" in caught.value.hint


def test_the_total_size_names_the_pattern_that_passes_the_limit() -> None:
    size = compile_rule_pattern("[ab]*a[ab]{999}c").size
    fitting = MAX_TOTAL_PROGRAM_SIZE // size
    sizes = [(index * 2, size) for index in range(fitting + 2)]  # every other rule has a pattern
    assert total_size_problem(sizes[:fitting]) is None
    found = total_size_problem(sizes)
    assert found is not None
    index, message, hint = found
    assert index == fitting * 2
    assert str(MAX_TOTAL_PROGRAM_SIZE) in message and hint

