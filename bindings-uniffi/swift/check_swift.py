"""Swift checks without a Swift compiler: every .swift file (hand-written and
UniFFI-generated) must parse with tree-sitter-swift, and every Swift name the README's
Swift quick start uses must be declared somewhere in those files.

    python check_swift.py <swift package dir> <README.md>
Prints one line per check, then `Swift checks: N passed, N failed`.
"""
import pathlib
import re
import sys

import tree_sitter
import tree_sitter_swift

pkg, readme = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
passed = failed = 0


def report(ok, what):
    global passed, failed
    print(("ok   " if ok else "FAIL ") + what)
    passed += ok
    failed += not ok


def first_error(node):
    if node.type == "ERROR" or node.is_missing:
        return node
    for child in node.children:
        if child.has_error:
            return first_error(child)
    return node


def resolve_swift_version_checks(text):
    """tree-sitter-swift cannot parse `#if` around an attribute, which UniFFI emits as
    `#if swift(>=5.8)` / `@_documentation(...)` / `#endif`. The package requires Swift
    5.9, so the condition is true: keep its body, blank the two directive lines (line
    numbers stay the same). No other `#if` is touched."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "#if swift(>=5.8)":
            j = i + 1
            while j < len(lines) and lines[j].strip().startswith("#") is False:
                j += 1
            if j < len(lines) and lines[j].strip() == "#endif":
                lines[i] = lines[j] = ""
                i = j
        i += 1
    return "\n".join(lines)


files = sorted(pkg.rglob("*.swift"))
sources = {}
for f in files:
    sources[f] = f.read_text()
    tree = parser.parse(resolve_swift_version_checks(sources[f]).encode())
    if tree.root_node.has_error:
        bad = first_error(tree.root_node)
        report(False, f"parse {f.relative_to(pkg)}: syntax error at line {bad.start_point[0] + 1}")
    else:
        report(True, f"parse {f.relative_to(pkg)}")
report(any("Sources/DurableStreamsFFI" in str(f) for f in files), "generated Swift bindings present")

# Names used by the README's ```swift blocks: identifiers after `.` or before `(`,
# and type names; each must be declared (func/var/let/case/class/struct/enum/...).
declared = set()
decl = re.compile(r"\b(?:func|var|let|case|class|struct|enum|protocol|typealias|actor|init)\s+([A-Za-z_]\w*)")
for text in sources.values():
    declared.update(decl.findall(text))
    declared.update(re.findall(r"\bcase\s+(?:[A-Za-z_]\w*\s*(?:\([^)]*\))?\s*,\s*)*([A-Za-z_]\w*)", text))
blocks = re.findall(r"```swift\n(.*?)```", readme.read_text(), re.S)
report(bool(blocks), "README has a Swift quick start")
builtin = {"Task", "String", "Data", "Foundation", "UUID", "uuidString", "print", "try", "await", "for", "in", "let", "var", "import", "DurableStreams",
           "utf8", "count", "Int", "do", "catch", "if", "return", "self", "Array", "description", "async", "throws",
           "sleep", "nanoseconds", "cancel", "value", "break", "where", "is", "as", "nil", "true", "false", "first"}
used = set()
for b in blocks:
    b = re.sub(r'"[^"]*"', '""', b)
    b = re.sub(r"//.*", "", b)
    used.update(re.findall(r"\.([a-zA-Z_]\w*)", b))
    used.update(re.findall(r"\b([A-Z]\w*)\b", b))
    used.update(re.findall(r"\b([a-z]\w*)\s*\(", b))
for name in sorted(used - builtin):
    report(name in declared, f"README name `{name}` is declared")
print(f"Swift checks: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
