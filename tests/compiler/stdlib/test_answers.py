"""HEAR … AS <kind>: which answers are taken, what is stored, what is said when refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gb.compiler.stdlib.answers import (
    TEXT_KINDS,
    check_answer,
    fold,
    match_language,
    match_option,
    normalize_kind,
)


@pytest.mark.parametrize(
    ("kind", "answer", "value"),
    [
        (None, "  anything  ", "  anything  "),
        ("text", "x", "x"),
        ("login", "me", "me"),
        ("email", " ana@example.com ", "ana@example.com"),
        ("email", "write to ana@example.com please", "write to ana@example.com please"),
        ("integer", "I am 30 years old", 30.0),
        ("INTEGER", "42", 42.0),
        ("number", "3,5", 3.5),
        ("number", "-12.25 kg", -12.25),
        ("boolean", "Yes, sure", True),
        ("boolean", "sim", True),
        ("boolean", "sem dúvida", True),
        ("boolean", "no way", False),
        ("boolean", "yesterday", False),
        ("name", "Ana Maria", "Ana Maria"),
        ("name", "João da Silva", "João da Silva"),
        ("date", "5/3/2024", "05/03/2024"),
        ("date", "29/02/2024", "29/02/2024"),
        ("hour", "9:30", "9:30"),
        ("hour", "23:59:59", "23:59:59"),
        ("zipcode", "01310-100", "01310100"),
        ("zipcode", "CEP 01.310-100", "01310100"),
        ("mobile", "+55 (21) 99999-8888", "+5521999998888"),
        ("phone", "21 9999 8888", "2199998888"),
        ("language", "English", "en"),
        ("language", "en", "en"),
        ("language", "Português", "pt"),
        ("language", "portugues", "pt"),
        ("language", "I speak french", "fr"),
        ("language", "ESP", "es"),
        ("language", "Deutsch", "de"),
    ],
)
def test_accepted_answers(kind: str | None, answer: str, value: object) -> None:
    verdict = check_answer(kind, answer)
    assert verdict.accepted
    assert verdict.value == value


@pytest.mark.parametrize(
    ("kind", "answer", "retry"),
    [
        ("email", "not an email", "Please, type a valid e-mail."),
        ("integer", "none", "Please, type a valid number."),
        ("integer", "12 or 13", "Please, type a valid number."),
        ("number", "one", "Please, type a valid number."),
        ("name", "Ana", "Please, type a valid name."),
        ("date", "2024-03-05", "Please, type a date in the format 12/12/2020."),
        ("date", "31/02/2024", "Please, type a date in the format 12/12/2020."),
        ("hour", "25:00", "Please, type a time in the format hh:mm."),
        ("money", "lots", "Please, type an amount of money."),
        ("zipcode", "123", "Please, type a valid zip code."),
        ("mobile", "call me", "Please, type a valid phone number."),
        ("mobile", "+1 (2) 3", "Please, type a valid phone number."),
        ("language", "klingon", "Please, choose one of the languages"),
        ("language", "x", "Please, choose one of the languages"),
    ],
)
def test_refused_answers_say_why(kind: str, answer: str, retry: str) -> None:
    verdict = check_answer(kind, answer)
    assert not verdict.accepted
    assert verdict.retry is not None and verdict.retry.startswith(retry)


def test_portuguese_sentences_are_the_originals() -> None:
    assert check_answer("email", "x", language="pt").retry == "Por favor, digite um e-mail válido."
    assert check_answer("menu", "z", ["a", "b"], "pt").retry == (
        "Escolha por favor um dos itens sugeridos (a, b)."
    )


@pytest.mark.parametrize(
    ("answer", "language", "value"),
    [
        ("1,234.56", "en", 1234.56),
        ("it costs 12", "en", 12.0),
        ("1.234,56", "pt", 1234.56),
        ("R$ 10,50", "pt", 10.5),
    ],
)
def test_money_is_a_number_read_in_the_locale(answer: str, language: str, value: float) -> None:
    assert check_answer("money", answer, language=language).value == value


def test_menu_options() -> None:
    options = ["São Paulo", "Rio de Janeiro", "Recife"]
    assert check_answer("menu", "rio de janeiro", options).value == "Rio de Janeiro"
    assert check_answer("menu", "sao paulo", options).value == "São Paulo"
    assert check_answer("menu", "Re", options).value == "Recife"  # last option containing it
    refused = check_answer("menu", "Curitiba", options)
    assert refused.retry == "Please, choose one of the options (São Paulo, Rio de Janeiro, Recife)."
    assert match_option("   ", options) is None
    assert match_option("2", [1, 2, 3]) == 2


def test_language_matching() -> None:
    assert match_language("en") == "en"  # not French, as the original's substring search had it
    assert match_language("fr") == "fr"
    assert match_language("xx") is None


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"HEAR AS QRCODE: not a kind of answer"):
        check_answer("qrcode", "x")


def test_kinds() -> None:
    assert normalize_kind(None) == "text"
    assert normalize_kind(" Phone ") == "mobile"
    assert normalize_kind("STRING") == "text"
    assert "menu" in TEXT_KINDS
    assert fold("ÁÉÍ ção") == "aei cao"


@given(st.sampled_from(sorted(TEXT_KINDS)), st.text(max_size=40))
def test_every_answer_gets_a_verdict(kind: str, answer: str) -> None:
    verdict = check_answer(kind, answer, ["Yes", "No"])
    assert verdict.accepted or verdict.retry
