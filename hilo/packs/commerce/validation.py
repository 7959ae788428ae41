"""The customer's data: validated field by field, with the reason when a value is wrong.

* cédula: a Colombian citizen's number, 6 to 10 digits (dots and spaces allowed: "1.023.456.789");
* teléfono: a Colombian mobile (10 digits starting with 3) or landline (60 + area + number, 10
  digits), optionally written with +57; stored as the 10 national digits;
* nombre: at least a first name and a surname, letters only;
* dirección: a street address with a number ("Calle 10 # 20-30, Medellín").

:func:`extract` finds these fields in a free message ("soy Ana Gómez, cédula 1023456789, cel
3001234567, vivo en la Cra 45 # 12-30"), for the guided sale with no model.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, fields


class InvalidField(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(slots=True)
class CustomerData:
    cedula: str | None = None
    name: str | None = None
    phone: str | None = None
    address: str | None = None
    email: str | None = None

    def given(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


def cedula(value: str) -> str:
    digits = re.sub(r"[\s.\-]", "", str(value or ""))
    if not digits.isdigit() or not 6 <= len(digits) <= 10 or digits.startswith("0"):
        raise InvalidField("cedula", "La cédula debe tener entre 6 y 10 dígitos, sin letras (por ejemplo 1023456789).")
    return digits


def phone(value: str) -> str:
    digits = re.sub(r"[\s.\-()]", "", str(value or ""))
    if digits.startswith("+57"):
        digits = digits[3:]
    elif digits.startswith("57") and len(digits) == 12:
        digits = digits[2:]
    if not digits.isdigit() or len(digits) != 10 or not (digits.startswith("3") or digits.startswith("60")):
        raise InvalidField("phone", "El teléfono debe ser un celular de 10 dígitos que empieza por 3 "
                                    "(por ejemplo 3001234567) o un fijo con indicativo (601...).")
    return digits


_LETTERS = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")


def name(value: str) -> str:
    text = " ".join(str(value or "").split())
    if not _LETTERS.match(text) or len(text.split()) < 2 or len(text) > 120:
        raise InvalidField("name", "Necesito tu nombre y apellido, solo con letras (por ejemplo Ana Gómez).")
    return " ".join(w[:1].upper() + w[1:] if w.islower() else w for w in text.split())


def address(value: str) -> str:
    text = " ".join(str(value or "").split())
    if len(text) < 6 or len(text) > 240 or not re.search(r"\d", text) or not re.search(r"[^\W\d_]{2,}", text):
        raise InvalidField("address", "La dirección debe tener la calle y el número (por ejemplo Calle 10 # 20-30, "
                                      "Medellín).")
    return text


def email(value: str) -> str:
    text = str(value or "").strip()
    if not re.fullmatch(r"[^@\s]{1,64}@[^@\s]+\.[a-z]{2,}", text, re.I):
        raise InvalidField("email", "El correo no parece válido (por ejemplo ana@correo.com).")
    return text.lower()


VALIDATORS = {"cedula": cedula, "name": name, "phone": phone, "address": address, "email": email}


def validate(data: dict[str, str | None]) -> tuple[CustomerData, dict[str, str]]:
    """The valid fields of ``data`` and, for each wrong one, why."""
    good, errors = CustomerData(), {}
    for key, check in VALIDATORS.items():
        value = data.get(key)
        if value is None or not str(value).strip():
            continue
        try:
            setattr(good, key, check(str(value)))
        except InvalidField as exc:
            errors[key] = exc.message
    return good, errors


# ---------------------------------------------------------------- free text


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


_STREET = r"(?:calle|cll|cl|carrera|cra|kr|kra|cr|avenida|av|diagonal|dg|transversal|tv|circular|autopista|via|vereda|manzana|mz)"
_ADDRESS = re.compile(rf"\b{_STREET}\.?\s*\d+[^\n;]*", re.I)
_NAME_CUE = re.compile(r"(?:me llamo|mi nombre es|soy|nombre\s*:?|a nombre de)\s+"
                       r"([^\W\d_]+(?:\s+(?!y\b|con\b|de\s+c|mi\b|cedula|cédula|cc\b|tel)[^\W\d_]+){1,4})", re.I)
_CEDULA_CUE = re.compile(r"(?:c[eé]dula|cc|c\.c\.|documento|identificaci[oó]n)\D{0,12}(\d(?:[\d.\s]{0,13}\d)?)", re.I)
_PHONE_CUE = re.compile(r"(?:tel[eé]fono|tel|cel(?:ular)?|m[oó]vil|whatsapp|n[uú]mero de contacto)\D{0,12}"
                        r"(\+?\d(?:[\d\s\-]{0,14}\d)?)", re.I)
_EMAIL = re.compile(r"[^@\s,;:]+@[^@\s,;:]+\.[a-z]{2,}", re.I)


def extract(message: str) -> tuple[CustomerData, dict[str, str]]:
    """The customer fields a message gives, validated, and the errors of those it gives wrong.

    Cues ("cédula", "cel", "me llamo", a street word) say which number is which; a bare
    10-digit number starting with 3 is a mobile, another bare 6-10 digit number a cédula."""
    text = message.replace("\n", ", ")
    raw: dict[str, str] = {}
    rest = text
    found = _EMAIL.search(rest)
    if found:
        raw["email"], rest = found.group(0), rest.replace(found.group(0), " ")
    found = _ADDRESS.search(rest)
    if found:
        value = re.split(r"[,;]\s*(?=(?:c[eé]dula|cc|tel|cel|me llamo|mi nombre|soy)\b)", found.group(0), flags=re.I)[0]
        raw["address"], rest = value.strip(" ,."), rest.replace(value, " ")
    else:
        cue = re.search(r"(?:direcci[oó]n|vivo en|env[ií](?:o|en|ar) a|entregar en)\s*:?\s*([^,;\n]*\d[^,;\n]*)", rest, re.I)
        if cue:
            raw["address"], rest = cue.group(1).strip(" ,."), rest.replace(cue.group(1), " ")
    for key, pattern in (("cedula", _CEDULA_CUE), ("phone", _PHONE_CUE)):
        found = pattern.search(rest)
        if found:
            raw[key], rest = found.group(1), rest.replace(found.group(1), " ")
    for number in re.findall(r"(?<![\d#\-])\+?\d[\d.\s]{4,14}\d(?![\d\-])", rest):
        digits = re.sub(r"\D", "", number)
        if "phone" not in raw and (len(digits) == 10 and digits.startswith("3") or
                                   len(digits) == 12 and digits.startswith("573")):
            raw["phone"] = number
        elif "cedula" not in raw and 6 <= len(digits) <= 10:
            raw["cedula"] = number
    found = _NAME_CUE.search(rest)
    if found:
        words = [w for w in found.group(1).split() if _fold(w) not in _NOT_NAME]
        if words:
            raw["name"] = " ".join(words[:4])
    return validate(raw)


_NOT_NAME = set("y con de del la el mi cedula cc telefono tel celular cel direccion vivo en numero es".split())
