"""What ``HEAR x AS <kind>`` accepts, and what it stores in ``x``.

The original validated the user's answer per kind and, when it did not fit, said why and asked
again (forever). :func:`check_answer` is that rule for one answer: either the value to store or
the sentence to say before asking again. Sentences exist in English and in the original's
Portuguese; the dialog's language picks one.

Where the original returned the raw text or a regex match array (``INTEGER``, ``MONEY``), gb
stores what the kind evidently means: a number. Where its regexes were wrong (``ZIPCODE``
in Portuguese used the money pattern, ``LANGUAGE`` let ``"en"`` match "french") the rule
here is the evident one.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# The original's affirmative words (strings.ts), matched at the start of the answer.
_AFFIRMATIVE = re.compile(
    r"^(\bsim\b|\bs\b|\bpositivo\b|\bafirmativo\b|\bclaro\b|\bevidente\b|\bsem dúvida\b"
    r"|\bconfirmo\b|\bconfirmar\b|\bconfirmado\b|\buhum\b|\bsi\b|\by\b|\byes\b|\bsure\b)",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[a-zA-Z0-9._-]+@[a-zA-Z0-9._-]+\.[a-zA-Z0-9_-]+")
_NAME_WORD = re.compile(r"[_a-zA-Z\u00C0-\u024F][_a-zA-Z0-9\u00C0-\u024F]{0,30}")
_DIGITS = re.compile(r"\d+")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_HOUR = re.compile(r"^([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:[0-5][0-9])?$")
_MONEY = {
    "en": re.compile(r"(?:\d{1,3},)*\d{1,3}(?:\.\d+)?"),
    "pt": re.compile(r"(?:\d{1,3}\.)*\d{1,3}(?:,\d+)?"),
}
_ZIPCODE = re.compile(r"\d{8}")
_PHONE = re.compile(r"^\+?[\d\s().-]{8,20}$")

# (name, code) pairs of HEAR AS LANGUAGE, in the original's order.
LANGUAGES: tuple[tuple[str, str], ...] = (
    ("english", "en"),
    ("inglês", "en"),
    ("portuguese", "pt"),
    ("português", "pt"),
    ("français", "fr"),
    ("francês", "fr"),
    ("french", "fr"),
    ("spanish", "es"),
    ("español", "es"),
    ("espanhol", "es"),
    ("german", "de"),
    ("deutsch", "de"),
    ("alemão", "de"),
)

# Why an answer was refused, per kind: (English, the original's Portuguese).
_RETRY = {
    "email": ("Please, type a valid e-mail.", "Por favor, digite um e-mail válido."),
    "name": ("Please, type a valid name.", "Por favor, digite um nome válido."),
    "integer": ("Please, type a valid number.", "Por favor, digite um número válido."),
    "date": (
        "Please, type a date in the format 12/12/2020.",
        "Por favor, digite uma data no formato 12/12/2020.",
    ),
    "hour": (
        "Please, type a time in the format hh:mm.",
        "Por favor, digite um horário no formato hh:mm.",
    ),
    "money": ("Please, type an amount of money.", "Por favor, digite um valor monetário."),
    "zipcode": ("Please, type a valid zip code.", "Por favor, digite um CEP válido."),
    "mobile": (
        "Please, type a valid phone number.",
        "Por favor, digite um número de telefone válido.",
    ),
    "menu": (
        "Please, choose one of the options ({options}).",
        "Escolha por favor um dos itens sugeridos ({options}).",
    ),
    "language": (
        "Please, choose one of the languages (English, Portuguese, French, Spanish, German).",
        "Escolha por favor um dos itens sugeridos.",
    ),
}

#: The kinds a HEAR can validate from text (``file``, ``qrcode`` and ``sheet`` need services).
TEXT_KINDS = frozenset(
    {"text", "email", "integer", "number", "boolean", "name", "date", "hour", "money",
     "zipcode", "language", "menu", "mobile", "phone", "login"}
)  # fmt: skip

_ALIASES = {"": "text", "string": "text", "phone": "mobile", "login": "text"}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one answer: ``value`` to store, or ``retry`` to say before asking again."""

    value: Any = None
    retry: str | None = None

    @property
    def accepted(self) -> bool:
        return self.retry is None


def normalize_kind(kind: str | None) -> str:
    """The validation rule a HEAR kind uses (``NUMBER`` → integer rules are separate here:
    ``number`` accepts decimals)."""
    name = (kind or "").strip().lower()
    return _ALIASES.get(name, name)


def fold(text: str) -> str:
    """Lower case without diacritics: how options, table cells and filters are compared."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _retry(kind: str, language: str, **fields: str) -> Verdict:
    english, portuguese = _RETRY[kind]
    text = portuguese if language == "pt" else english
    return Verdict(retry=text.format(**fields))


def _to_number(text: str) -> float:
    return float(text.replace(",", "."))


def match_option(answer: str, options: Sequence[object]) -> object | None:
    """The menu option an answer picks: an option equal to it (case and accents ignored), else
    the last option containing it, as the original's substring search; None if none does."""
    wanted = fold(answer.strip())
    if not wanted:
        return None
    for option in options:
        if fold(str(option)) == wanted:
            return option
    found = None
    for option in options:
        if wanted in fold(str(option)):
            found = option
    return found


def match_language(answer: str) -> str | None:
    """The language code an answer names: a code or name equal to it, else the first name
    containing it (at least three letters, so ``"en"`` is English, not French)."""
    wanted = fold(answer.strip())
    for name, code in LANGUAGES:
        if wanted in (code, fold(name)):
            return code
    if len(wanted) >= 3:
        for name, code in LANGUAGES:
            if wanted in fold(name) or fold(name) in wanted:
                return code
    return None


def check_answer(
    kind: str | None,
    answer: str,
    options: Sequence[object] = (),
    language: str = "en",
) -> Verdict:
    """Validate ``answer`` for ``HEAR … AS kind`` (``options`` for a menu).

    Raises ValueError for a kind that cannot be validated from text.
    """
    rule = normalize_kind(kind)
    text = answer.strip()
    if rule == "text":
        return Verdict(answer)
    if rule == "boolean":
        return Verdict(bool(_AFFIRMATIVE.match(text)))
    if rule == "email":
        return Verdict(text) if _EMAIL.search(text) else _retry("email", language)
    if rule == "name":
        return Verdict(text) if len(_NAME_WORD.findall(text)) > 1 else _retry("name", language)
    if rule == "integer":
        groups = _DIGITS.findall(text)
        return Verdict(float(groups[0])) if len(groups) == 1 else _retry("integer", language)
    if rule == "number":
        numbers = _NUMBER.findall(text)
        if len(numbers) == 1:
            return Verdict(_to_number(numbers[0]))
        return _retry("integer", language)
    if rule == "date":
        return _check_date(text, language)
    if rule == "hour":
        return Verdict(text) if _HOUR.match(text) else _retry("hour", language)
    if rule == "money":
        return _check_money(text, language)
    if rule == "zipcode":
        codes = _ZIPCODE.findall(re.sub(r"[-.\s]", "", text))
        return Verdict(codes[0]) if len(codes) == 1 else _retry("zipcode", language)
    if rule == "mobile":
        digits = re.sub(r"\D", "", text)
        if _PHONE.match(text) and 8 <= len(digits) <= 15:
            return Verdict(("+" if text.startswith("+") else "") + digits)
        return _retry("mobile", language)
    if rule == "language":
        code = match_language(text)
        return Verdict(code) if code else _retry("language", language)
    if rule == "menu":
        picked = match_option(text, options)
        if picked is None:
            listed = ", ".join(str(option) for option in options)
            return _retry("menu", language, options=listed)
        return Verdict(picked)
    raise ValueError(unknown_kind(kind))


def unknown_kind(kind: str | None) -> str:
    """The message for a HEAR kind that cannot be validated from text."""
    return (
        f"HEAR AS {(kind or '').upper()}: not a kind of answer "
        f"(use one of {', '.join(sorted(k.upper() for k in TEXT_KINDS))} or a list of options)"
    )


def _check_date(text: str, language: str) -> Verdict:
    match = _DATE.match(text)
    if match:
        try:
            day = dt.date(int(match[3]), int(match[2]), int(match[1]))
        except ValueError:
            day = None
        if day is not None:
            # Stored as the original did: a pt-BR dd/mm/yyyy string.
            return Verdict(f"{day.day:02d}/{day.month:02d}/{day.year:04d}")
    return _retry("date", language)


def _check_money(text: str, language: str) -> Verdict:
    style = "en" if language == "en" else "pt"
    found = _MONEY[style].findall(text)
    if len(found) != 1:
        return _retry("money", language)
    amount = found[0]
    if style == "en":
        return Verdict(float(amount.replace(",", "")))
    return Verdict(float(amount.replace(".", "").replace(",", ".")))
