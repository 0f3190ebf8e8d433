"""YAML text → plain Python data, refusing duplicate keys and keeping the node tree for lines.

PyYAML's own constructor silently keeps the last of two equal keys and resolves scalars by
YAML 1.1 rules (``yes``/``on`` are booleans, ``012`` is octal, ``1:30`` is 90, a bare date is a
``datetime``). Spec files are short hand-written documents where each of those is a trap, so
this module composes the node tree with libyaml (``CParser``, when PyYAML was built with it)
and builds the data itself:

- plain scalars resolve by the YAML 1.2 core schema: ``null``/``~``/empty, ``true``/``false``,
  decimal integers, floats; everything else is a string;
- duplicate mapping keys are reported with the lines of both occurrences (the first is kept);
- merge keys (``<<``), non-scalar keys, recursive aliases and tags other than the core ones
  are reported as errors;
- with an environment given, ``${VAR}`` and ``${VAR:-default}`` in string values are replaced
  by the variable's value, and a plain (unquoted) scalar is then resolved as if its text had
  been written literally: ``workspaceId: ${WS}`` with ``WS=1234`` is the integer 1234. This
  happens on the parsed scalars, so a value can never change the document's structure; the
  braces of a reference are masked before parsing so that ``[${A}, 7]`` parses at all.

The composed node tree is kept alongside the data: line numbers are looked up in it only
when something needs them (a run's own line, or an error's location), so the happy path
pays nothing for line bookkeeping beyond the marks libyaml creates anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.errors import SpecError
from reconciler.validation import field_path

if TYPE_CHECKING:
    _BaseLoader = yaml.SafeLoader
else:
    # libyaml parses and composes several times faster than PyYAML's pure-Python reader.
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG = "tag:yaml.org,2002:"
NULL_TAG = _TAG + "null"
BOOL_TAG = _TAG + "bool"
INT_TAG = _TAG + "int"
FLOAT_TAG = _TAG + "float"
STR_TAG = _TAG + "str"
SEQ_TAG = _TAG + "seq"
MAP_TAG = _TAG + "map"
MERGE_TAG = _TAG + "merge"

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution), minus octal/hex ints.
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT_RE = re.compile(r"[-+]?[0-9]+\Z")
# Patterns that only some values or files need are compiled on first use (``re`` keeps them):
# compiled at import, the four cost every command that reads specs about 3 M instructions.
_FLOAT = (
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z"
    r"|[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z"
)
_COLLECTION_TAGS: dict[type[Node], str] = {SequenceNode: SEQ_TAG, MappingNode: MAP_TAG}


#: The first characters of every plain scalar that resolves to something other than a string
#: (null, bool, int, float, the merge key); any other first character means a string.
_NON_STR_START = frozenset("~nNtTfF0123456789+-.<")
#: The first characters of a number; the words (null, true, false...) have at most five letters.
_NUMBER_START = frozenset("0123456789+-.")
_LONGEST_WORD = 5


def _resolve_plain(value: str) -> str:
    if value in _NULLS:
        return NULL_TAG
    if value in _BOOLS:
        return BOOL_TAG
    if _INT_RE.match(value):
        return INT_TAG
    if value == "<<":
        return MERGE_TAG
    if re.match(_FLOAT, value):
        return FLOAT_TAG
    return STR_TAG


#: Plain scalar → tag, for the values seen so far (bounded: a huge file cannot grow it).
_PLAIN_TAGS: dict[str, str] = {}
_PLAIN_TAGS_MAX = 4096


def _plain_tag(value: str) -> str:
    """The tag of a plain (unquoted, untagged) scalar. Keys and small values repeat from run to
    run, so are remembered."""
    tag = _PLAIN_TAGS.get(value)
    if tag is None:
        tag = _resolve_plain(value)
        if len(_PLAIN_TAGS) < _PLAIN_TAGS_MAX:
            _PLAIN_TAGS[value] = tag
    return tag


def tag_of(node: Node) -> str:
    """``node``'s tag, resolved by the YAML 1.2 core schema when the document gave none.

    The composer leaves ``slice(kind, value, implicit)`` in place of the tag of every
    untagged node (``_SpecYamlLoader.resolve``); every reading of a tag goes through here.
    """
    tag: str | slice = node.tag
    if type(tag) is not slice:
        return str(tag)
    if node.__class__ is not ScalarNode:
        return _COLLECTION_TAGS[type(node)]
    value = node.value
    # (plain_implicit, quoted_implicit): a quoted or block scalar is text, and so is a plain
    # one that starts like no number and is longer than any word with a meaning.
    if tag.step[0] and (
        not value
        or value[0] in _NUMBER_START
        or (len(value) <= _LONGEST_WORD and value[0] in _NON_STR_START)
    ):
        return _plain_tag(value)
    return STR_TAG


class _SpecYamlLoader(_BaseLoader):
    """libyaml's parser and composer with YAML 1.2 core tag resolution (see module docstring)."""

    # The composer asks ``resolve(kind, value, implicit)`` for the tag of every untagged node,
    # about 13 times a run. A Python method costs a frame each time (about 25 M instructions
    # for 1,000 runs); ``slice`` is a builtin that only keeps its three arguments, and the
    # composer stores whatever it returns as the node's tag. ``tag_of`` resolves it later, in
    # the one pass that visits every node anyway.
    resolve = staticmethod(slice)

    # Path-based resolvers (``add_path_resolver``) are not used: skip their bookkeeping,
    # which the composer calls for every node (again a builtin rather than a Python frame:
    # ``slice`` accepts the two arguments, ``tuple`` none, and both results are ignored).
    # (PyYAML's type stubs declare them as methods returning None.)
    descend_resolver = staticmethod(slice)  # type: ignore[assignment]
    ascend_resolver = staticmethod(tuple)  # type: ignore[assignment]


def _construct_bool(value: str) -> bool:
    return _BOOLS[value]


def _construct_null(value: str) -> None:
    if value not in _NULLS:
        raise ValueError(value)


_SCALARS: dict[str, Callable[[str], Any]] = {
    STR_TAG: str,
    INT_TAG: int,
    FLOAT_TAG: float,
    BOOL_TAG: _construct_bool,
    NULL_TAG: _construct_null,
}


#: ``$${`` (an escaped ``${``), or ``${...}`` with whatever is inside, closed or not.
_PLACEHOLDER = r"\$\$\{|\$\{([^}]*)(\}?)"
_VARIABLE = r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\Z"
_INTERPOLATION_HINT = "write ${NAME} or ${NAME:-default}; write $${ for a literal ${"
#: Variables holding credentials (the Probe API key by both its names, libpq's password). A
#: value read from a spec is shown in plans and written to plan files and state, so these are
#: never interpolated.
SECRET_VARIABLES = ("SPLX_API_KEY", "SPLXAI_API_KEY", "PGPASSWORD")


def node_line(node: Node) -> int:
    """1-based line where ``node`` starts."""
    return int(node.start_mark.line) + 1


class ParsedYaml(NamedTuple):
    """One parsed document: its data, its node tree (for lines) and the problems found."""

    data: Any
    root: Node | None
    errors: list[SpecError]
    #: Line → original text of each interpolated value, so errors can say where it came from.
    interpolated: Mapping[int, str] = MappingProxyType({})


# Plain classes with slots rather than dataclasses here and for the other per-file helpers:
# on Python 3.11 a dataclass compiles each generated method when its module is imported
# (about 1.5 M instructions each, on every command that reads specs).
class _Builder:
    """Turns a node tree into dicts, lists and scalars, collecting errors as it goes."""

    __slots__ = ("aliases", "building", "done", "env", "file", "interpolated", "problems")

    def __init__(self, file: str, env: Mapping[str, str] | None = None, *, aliases: bool) -> None:
        self.file = file
        #: Variables for ``${VAR}``; None: no interpolation (the text is kept as written).
        self.env = env
        self.interpolated: dict[int, str] = {}
        #: (node, message, hint): turned into SpecErrors at the end, when the tree is complete.
        self.problems: list[tuple[Node, str, str | None]] = []
        # Aliases make the node tree a graph: build each collection once (this also defuses
        # "billion laughs" documents) and spot an alias that contains itself.
        self.done: dict[int, Any] = {}
        self.building: set[int] = set()
        #: False when the text has no anchor (``&``): then no node appears twice, and the
        #: bookkeeping above can be skipped for every collection.
        self.aliases = aliases

    def error(self, node: Node, message: str, hint: str | None = None) -> None:
        self.problems.append((node, message, hint))

    def errors(self, root: Node) -> list[SpecError]:
        return [
            SpecError(
                message,
                file=self.file,
                line=node_line(node),
                field=field_path(tuple(_path_to(root, node) or ())) or None,
                hint=hint,
            )
            for node, message, hint in self.problems
        ]

    def build(self, node: Node) -> Any:
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if not self.aliases:
            if isinstance(node, MappingNode):
                return self.mapping(node)
            return self.sequence(node) if isinstance(node, SequenceNode) else None
        ident = id(node)
        if ident in self.done:
            return self.done[ident]
        if ident in self.building:
            self.error(node, "a YAML alias refers to a node that contains it", "remove the loop")
            return None
        self.building.add(ident)
        result: Any = None
        if isinstance(node, MappingNode):
            result = self.mapping(node)
        elif isinstance(node, SequenceNode):
            result = self.sequence(node)
        self.building.discard(ident)
        self.done[ident] = result
        return result

    def scalar(self, node: ScalarNode) -> Any:
        value: str = node.value
        tag: str | slice = node.tag
        if type(tag) is slice:
            # ``tag_of``, inlined: this runs for every scalar of every spec file, and most
            # are text that settles by its first character and length without another call.
            if tag.step[0] and (
                not value
                or value[0] in _NUMBER_START
                or (len(value) <= _LONGEST_WORD and value[0] in _NON_STR_START)
            ):
                tag = _plain_tag(value)
                if tag is INT_TAG:
                    return int(value)  # ids, most numbers of a spec: no construct to look up
            else:
                tag = STR_TAG
        if tag == STR_TAG:
            if self.env is not None and "$" in value:
                return self.interpolate(node)
            return value  # most scalars: nothing to construct or interpolate
        construct = _SCALARS.get(tag)
        if construct is None:
            self.error(
                node,
                f"unsupported YAML tag {tag}",
                "remove the tag; spec files use plain strings, numbers and booleans",
            )
            return value
        try:
            return construct(value)
        except ValueError:
            self.error(node, f"{value!r} is not a valid {tag.rsplit(':', 1)[-1]}")
            return value

    def interpolate(self, node: ScalarNode) -> Any:
        """``node``'s text with ``${VAR}`` replaced; plain scalars re-resolved (module doc)."""
        env = self.env or {}
        failed = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal failed
            if match.group(0) == "$${":
                return "${"
            inner, closed = match.group(1), match.group(2)
            variable = re.match(_VARIABLE, inner, re.DOTALL) if closed else None
            if variable is None:
                failed = True
                self.error(
                    node, f"malformed variable reference {match.group(0)!r}", _INTERPOLATION_HINT
                )
                return match.group(0)
            name, default = variable.group(1), variable.group(2)
            if name in SECRET_VARIABLES:
                failed = True
                self.error(
                    node,
                    f"environment variable {name} holds a secret: secrets may not be used in specs",
                    f"remove ${{{name}}}: spec values are shown in plans and saved in plan "
                    "files and state, and reconciler reads SPLX_API_KEY (libpq PGPASSWORD) "
                    "from the environment itself",
                )
                return match.group(0)
            value = env.get(name)
            if default is not None and not value:
                return default
            if value is None:
                failed = True
                self.error(
                    node,
                    f"environment variable {name} is not set",
                    f"set {name}, or give a default: ${{{name}:-value}}",
                )
                return match.group(0)
            return value

        text = re.sub(_PLACEHOLDER, substitute, node.value)
        if text == node.value and "$${" not in node.value:
            return text  # a lone "$" (e.g. "costs $5"): nothing was a placeholder
        self.interpolated[node_line(node)] = node.value
        # libyaml marks a plain scalar with style "", PyYAML's own composer with None.
        if failed or node.style:
            return text  # quoted and block scalars stay text, as when written literally
        tag = _resolve_plain(text)
        return _SCALARS.get(tag, str)(text)

    def sequence(self, node: SequenceNode) -> list[Any]:
        self.check_tag(node, SEQ_TAG)
        # Scalars go straight to ``scalar``: ``build`` would only pass them on.
        return [
            self.scalar(item) if item.__class__ is ScalarNode else self.build(item)
            for item in node.value
        ]

    def mapping(self, node: MappingNode) -> dict[str, Any]:
        self.check_tag(node, MAP_TAG)
        result: dict[str, Any] = {}
        first: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, "a mapping key must be a plain value, not a list or mapping")
                continue
            # Every key of a spec file is a field name or a run key: text. Taking the text as
            # written keeps `123:` and `2024-06-01:` as the keys the user sees. Only the merge
            # key and explicit tags need the key's tag.
            key = key_node.value
            key_tag: str | slice = key_node.tag
            if key == "<<" or type(key_tag) is not slice:
                key_tag = tag_of(key_node)
                if key_tag == MERGE_TAG:
                    self.error(
                        key_node,
                        "YAML merge keys (<<) are not supported",
                        "put the fields shared by several runs in defaults:",
                    )
                    continue
                if key_tag not in _SCALARS:
                    self.scalar(key_node)  # reports the tag
            if key in first:
                self.error(
                    key_node,
                    f"duplicate key {key!r} (first at line {node_line(first[key])})",
                    "most YAML tools silently keep only the last one; remove or rename one of them",
                )
                continue
            first[key] = key_node
            if value_node.__class__ is ScalarNode:
                result[key] = self.scalar(value_node)
            else:
                result[key] = self.build(value_node)
        return result

    def check_tag(self, node: Node, expected: str) -> None:
        tag: str | slice = node.tag
        if type(tag) is slice:
            return  # untagged: a sequence is a seq and a mapping a map
        if tag != expected:
            self.error(node, f"unsupported YAML tag {tag}", "remove the tag")


#: ``${...}`` on one line, without quotes: masked before parsing (``_mask_references``). A
#: quote ends the match so that an unclosed ``"${oops"}`` cannot swallow a structural ``}``.
_REFERENCE = r"\$\{[^}\n\"']*\}"
#: The characters that would end or split a plain scalar in a flow collection (``[${A}, 7]``),
#: each mapped to a private-use code point that YAML reads as an ordinary character.
_MASK = str.maketrans({char: 0xE000 + index for index, char in enumerate("{}[],:#")})
_UNMASK = str.maketrans({code: char for char, code in _MASK.items()})


def _mask_references(text: str) -> str | None:
    """``text`` with the inside of each ``${...}`` masked; None when nothing needs it.

    Interpolation works on the parsed scalars (``_Builder.interpolate``), so a value with
    ``: `` or ``]`` in it can never change the document's structure. But YAML itself reads
    ``{``, ``}`` and ``,`` inside ``[...]`` and ``{...}`` as structure, so ``probeIds: [${A}]``
    would not even parse. Each such character of a reference is swapped, one for one (lines
    and columns stay put), for a private-use character before parsing and swapped back in
    every scalar afterwards. A reference that parses today parses to the same text; the rare
    file that already holds those private-use characters is left alone.
    """
    if "${" not in text or any(chr(code) in text for code in _UNMASK):
        return None
    return re.sub(_REFERENCE, lambda match: match.group(0).translate(_MASK), text)


def _unmask(node: Node, seen: set[int]) -> None:
    """Undo ``_mask_references`` in every scalar of the tree (each node once: aliases)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, ScalarNode):
        node.value = node.value.translate(_UNMASK)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _unmask(item, seen)
    elif isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            _unmask(key_node, seen)
            _unmask(value_node, seen)


def parse_yaml(text: str, file: str, env: Mapping[str, str] | None = None) -> ParsedYaml:
    """Parse one YAML document. Syntax errors come back as one ``SpecError``, never raised.

    With ``env``, ``${VAR}`` references in string values are interpolated from it, after
    parsing: in block and flow collections alike, quoted or not.
    """
    masked = _mask_references(text)
    loader = _SpecYamlLoader(text if masked is None else masked)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        return ParsedYaml(None, None, [_syntax_error(exc, file, text)])
    except yaml.YAMLError as exc:  # reader errors (e.g. control characters) carry no mark
        return ParsedYaml(None, None, [SpecError(f"not valid YAML: {exc}", file=file)])
    finally:
        loader.dispose()
    if root is None:
        return ParsedYaml(None, None, [])
    if masked is not None:
        _unmask(root, set())
    builder = _Builder(file, env, aliases="&" in text)
    data = builder.build(root)
    return ParsedYaml(data, root, builder.errors(root), interpolated=builder.interpolated)


def _syntax_error(exc: yaml.MarkedYAMLError, file: str, text: str) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    message = "YAML syntax error: "
    if exc.context:
        message += exc.context
        if exc.context_mark is not None and (mark is None or exc.context_mark.line != mark.line):
            message += f" (line {exc.context_mark.line + 1})"
        message += ": "
    message += exc.problem or "invalid YAML"
    return SpecError(
        message,
        file=file,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        hint=_syntax_hint(message, _char_at(text, mark)),
    )


def _char_at(text: str, mark: yaml.Mark | None) -> str:
    """The character a syntax error points at (libyaml's message does not show it)."""
    if mark is None:
        return ""
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    return line[mark.column : mark.column + 1]


def _syntax_hint(message: str, char: str) -> str:
    if char == "\t" or "\\t" in message:
        return "YAML indentation must use spaces, not tabs"
    if "mapping values are not allowed" in message:
        return 'a value containing ": " must be quoted, e.g. name: "Sweep: nightly"'
    if "single document" in message:
        return "a spec file holds one YAML document: remove the extra '---'"
    return "check the indentation, brackets and quoting around this line"


def locate(root: Node | None, loc: Sequence[int | str], *, key: bool = False) -> int | None:
    """The line of the node at path ``loc`` (a pydantic error location) in ``root``.

    When the path leads into a collection (or cannot be followed to its end, as for a missing
    field), the answer is the line of the last mapping key on the way: that is where a reader
    looks for "this run" or "this field". ``key=True`` asks for the key's own line even when
    the value is a scalar on a later line (unknown fields, bad run keys).
    """
    if root is None:
        return None
    node: Node = root
    line: int | None = None
    for part in loc:
        if part == "[key]":
            return line
        child = _child(node, part)
        if child is None:
            return line
        key_node, node = child
        if key_node is not None:
            line = node_line(key_node)
    if isinstance(node, ScalarNode) and not key:
        return node_line(node)
    return line if line is not None else node_line(node)


#: The word ``null`` as YAML 1.2 spells it; ``~`` and nothing also read as null.
NULL_WORDS = frozenset({"null", "Null", "NULL"})

#: The message and hint for a null that is not written out where null has a meaning.
BLANK_NULL_MESSAGE = "a value is required here, got nothing"
BLANK_NULL_HINT = (
    "write null (the word itself) for the probes configured for the target on the platform, "
    "or list probe ids, e.g. [101, 102]"
)


def blank_null(root: Node | None, loc: Sequence[int | str]) -> bool:
    """True when the null at ``loc`` is blank, ``~`` or came from a variable, not the word
    ``null``: where null is a value (``probeIds``), those read like a half-finished edit."""
    node = node_at(root, loc)
    return isinstance(node, ScalarNode) and node.value not in NULL_WORDS


def node_at(root: Node | None, loc: Sequence[int | str]) -> Node | None:
    """The node at path ``loc`` in ``root``; None when the path cannot be followed."""
    node = root
    for part in loc:
        child = _child(node, part) if node is not None else None
        node = child[1] if child is not None else None
    return node


def _child(node: Node, part: int | str) -> tuple[Node | None, Node] | None:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == str(part):
                return key_node, value_node
    elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item: Node = node.value[part]
        return None, item
    return None


def key_lines(root: Node | None, *path: str) -> dict[str, int]:
    """Line of each key of the mapping at ``path`` (first occurrence), e.g. every run key."""
    node = root
    for part in path:
        child = _child(node, part) if node is not None else None
        node = child[1] if child else None
    lines: dict[str, int] = {}
    if isinstance(node, MappingNode):
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode):
                # ``node_line`` written out: this runs for every run key.
                lines.setdefault(key_node.value, key_node.start_mark.line + 1)
    return lines


def _path_to(node: Node, target: Node) -> list[str | int] | None:
    """Keys and indexes from ``node`` down to ``target``; only computed for an error."""
    if node is target:
        return []
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            label = key_node.value if isinstance(key_node, ScalarNode) else "?"
            if key_node is target:
                return [label]
            below = _path_to(value_node, target)
            if below is not None:
                return [label, *below]
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            below = _path_to(item, target)
            if below is not None:
                return [index, *below]
    return None
