"""Pure helpers that turn a model's free-text response into something comparable.

None of these raise on odd input: a response that yields nothing gives ``None`` (or
``False``), which scores as wrong. Benchmarks compose them; they hold no state.
"""

from __future__ import annotations

import logging
import re
import string
from decimal import Decimal, InvalidOperation

# Answers longer than this are not handed to sympy: math-verify runs here without its
# signal-based timeout (which works only on the main thread), so input size is our bound.
MAX_MATH_CHARS = 200

_NUMBER = re.compile(
    r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"  # 1,234.5  -3  42  18kg
    r"|(?<![\w.])-?\.\d+"  # .5
)
# Where a final answer is announced. A cue counts only when its number follows closely
# (_CLOSE): in '"The answer is N", we need to multiply 3 by 100, which gives us 300.' the
# cue announces a placeholder, and the 3 after it is not an answer.
_ANSWER_CUE = re.compile(
    r"####|\\boxed\{|\banswer\s*(?:is|was|would be|will be|=|:)|\banswer\b\W*:", re.IGNORECASE
)
# Between a cue and its number: spaces, one ':' or '=', markdown emphasis, an opening
# quote or bracket, "$", "\boxed{" or "\(": nothing that reads as a word.
_CLOSE = re.compile(r"(?:\s|[:=]|\*\*|__|`|[\"'(\[{]|\\boxed\{|\\\(|\\\[)*")
_MARKUP = re.compile(r"\*\*|__|`")


def normalize(text: str) -> str:
    """Lowercase, drop markdown emphasis, surrounding quotes and final punctuation; one space."""
    text = _MARKUP.sub("", str(text)).strip().lower()
    text = " ".join(text.split())
    return text.strip(" \"'").rstrip(".!;,").strip()


def exact_match(response: str, target: str) -> bool:
    """Equal after :func:`normalize`."""
    return normalize(response) == normalize(target) != ""


def contains(response: str, target: str) -> bool:
    """``target`` appears in ``response`` as a whole word or phrase, both normalised.

    "4" is not found in "14", nor "cat" in "concatenate"; "Paris" is found in "It is Paris."
    """
    wanted = normalize(target)
    if not wanted:
        return False
    return re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", normalize(response)) is not None


def regex_match(response: str, pattern: str) -> bool:
    """``pattern`` is found anywhere in ``response`` (a bad pattern never matches)."""
    try:
        return re.search(pattern, response) is not None
    except re.error:
        return False


def _clean_number(token: str) -> str:
    return token.replace(",", "")


def extract_final_number(text: str) -> str | None:
    """The final numeric answer of a worked solution, commas removed, or None.

    Prefers the number right after the last answer cue ("#### X", "The answer is X",
    "Answer: X", ``\\boxed{X}``) that is followed closely by one (only spaces, a colon,
    markup or an opening quote or bracket between them), else takes the last number in
    the text. "$1,234.50." gives "1234.50"; "-3" gives "-3"; 'The answer is "N", so 3 x
    100 = 300' gives "300" (the cue announces no number).
    """
    text = str(text).replace("\\$", "").replace("$", "")
    for cue in reversed(list(_ANSWER_CUE.finditer(text))):
        gap = _CLOSE.match(text, cue.end())  # matches, maybe empty
        found = _NUMBER.match(text, gap.end() if gap else cue.end())
        if found:
            return _clean_number(found.group())
    numbers = _NUMBER.findall(text)
    return _clean_number(numbers[-1]) if numbers else None


def to_decimal(text: object) -> Decimal | None:
    """Parse "1,234.50", "$3", "-0.5", "42%" as a Decimal; None if it is not a number."""
    cleaned = str(text).strip().replace(",", "").replace("$", "").rstrip("%").rstrip(".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def numeric_equal(a: object, b: object, rel_tol: float = 1e-6) -> bool:
    """Both parse as numbers and agree to a relative tolerance (exactly, for integers)."""
    x, y = to_decimal(a), to_decimal(b)
    if x is None or y is None:
        return False
    if x == x.to_integral_value() and y == y.to_integral_value():
        return x == y
    return abs(x - y) <= Decimal(rel_tol) * max(abs(x), abs(y))


def math_equal(gold: str, answer: str) -> bool:
    """Mathematical equivalence of two short answers ("1/2" vs "0.5", "18.00" vs "18").

    Uses math-verify (parse + verify) with its signal timeouts disabled so that it also
    works off the main thread; inputs longer than MAX_MATH_CHARS count as not equal.
    """
    if not gold or not answer or max(len(gold), len(answer)) > MAX_MATH_CHARS:
        return False
    from math_verify import parse, verify  # sympy is slow to import; only math needs it

    # It warns once per process that its timeout is off; MAX_MATH_CHARS is ours.
    logging.getLogger("math_verify").setLevel(logging.ERROR)

    try:
        parsed_gold = parse(gold, parsing_timeout=None)
        parsed_answer = parse(answer, parsing_timeout=None)
        if not parsed_gold or not parsed_answer:
            return False
        return bool(verify(parsed_gold, parsed_answer, timeout_seconds=None))
    except Exception:  # math-verify on adversarial text: never let it fail a run
        return False


LETTERS = string.ascii_uppercase

# Explicit announcements, strongest first; the last occurrence in the text wins.
_CHOICE_CUES = [
    # "Answer: C", "The correct answer is (C)", "answer is option C", "Final answer: **C**",
    # "the best choice is B"
    r"(?i:answer|(?:correct|best|right) (?:option|choice))(?:\s*(?i:is|would be|:|=|-))*\s*"
    r"(?i:option|choice|letter)?\s*[\(\[]?({L})[\)\]]?(?![\w'])",
    # "\boxed{C}"
    r"\\boxed\{\s*(?:\\text\{)?({L})\}",
]


def extract_choice_letter(text: str, letters: str = "ABCD") -> str | None:
    """The multiple-choice letter a response commits to, or None.

    Looks for an explicit "answer ... X" phrase (the last one wins); else a response that is
    only a letter ("C", "(C)", "C.") or starts with one ("C. Paris", "(C) because"); else a
    parenthesised "(C)". A second, different parenthesised letter makes the last two
    ambiguous (None). Only upper-case ``letters`` count, so the article "a" is never an answer.
    """
    text = _MARKUP.sub("", str(text))
    cls = f"[{re.escape(letters)}]"
    for cue in _CHOICE_CUES:
        found = re.findall(cue.replace("{L}", cls), text)
        if found:
            return str(found[-1])
    stripped = text.strip()
    mentioned = set(re.findall(rf"\(({cls})\)", stripped))
    leading = re.fullmatch(rf"[\(\[]?({cls})[\)\]]?[.:]?", stripped) or re.match(
        rf"[\(\[]?({cls})(?:[\)\]]|[.:])\s",
        stripped,  # "C. Paris", not "A dog"
    )
    if leading and mentioned <= {leading.group(1)}:
        return leading.group(1)
    return mentioned.pop() if len(mentioned) == 1 else None


def last_boxed(text: str) -> str | None:
    """The contents of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced, or None.

    "so $\\boxed{\\frac{1}{2}}$." gives "\\frac{1}{2}"; an unclosed box gives None.
    """
    text = str(text)
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    opening = text.find("{", start)
    if opening < 0 or text[start:opening].strip() not in ("\\boxed", "\\fbox"):
        return None
    depth = 0
    for i in range(opening, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[opening + 1 : i].strip()
    return None


def latex_equal(gold: str, answer: str) -> bool:
    """Two LaTeX answers ("\\frac12" and "0.5", "\\left( 3, \\frac{\\pi}{2} \\right)" and
    "(3,\\pi/2)") are equal as strings without spaces, or mathematically by math-verify."""
    if "".join(str(gold).split()) == "".join(str(answer).split()) != "":
        return True
    return math_equal(f"${gold}$", f"${answer}$")
