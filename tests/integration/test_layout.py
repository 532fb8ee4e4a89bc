"""The source tree keeps its shape (docs/architecture.md, "Modules").

* The report's files depend one way: src/report*.c are parsed, every
  function a file defines is noted, and a file that calls a function of
  another report file depends on it.  The graph of these dependencies has
  no cycle, and it is the documented one: the model (report.c) calls no
  other report file, the text helpers (report_text.c) only the model, the
  language texts (report_zh.c) nothing above themselves, the format
  writers nothing of the command (report_db.c).
* No file under src/ is over 800 lines, and no function over 100 lines.

Run: python3 tests/lib/runner.py tests/integration/test_layout.py
"""
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src")

MAX_FILE_LINES = 800
MAX_FUNCTION_LINES = 100

# Each report file, and the report files it may call (directly or not).
REPORT_LAYERS = {
    "report.c": set(),
    "report_text.c": {"report.c"},
    "report_zh.c": {"report.c", "report_text.c"},
    "report_html.c": {"report.c", "report_text.c", "report_zh.c"},
    "report_json.c": {"report.c", "report_text.c", "report_zh.c"},
    "report_writer.c": {"report.c", "report_text.c", "report_zh.c", "report_html.c",
                        "report_json.c"},
    "report_db.c": {"report.c", "report_text.c", "report_zh.c", "report_html.c",
                    "report_json.c", "report_writer.c"},
}

IDENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "do", "else", "case",
            "_Alignof", "_Static_assert", "defined"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_comments_and_strings(text):
    """The code without comments, string and character literals (their
    lines kept, so that line numbers stay right)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    """(name, first line, last line, body, static) of every function
    defined at file scope: at brace depth 0, a `{` after a declarator
    that ends with `)` opens a body, which runs to its matching `}`."""
    code = strip_comments_and_strings(read(path))
    # preprocessor lines (with their continuations) are blanked
    code = re.sub(r"(?m)^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", lambda m: "\n" * m.group(0).count("\n"),
                  code)
    found = []
    depth = 0
    decl_start = 0              # where the text since the last ; or } at depth 0 begins
    i = 0
    while i < len(code):
        c = code[i]
        if c == "{" and depth == 0:
            decl = code[decl_start:i]
            m = IDENT.search(decl)
            if m and m.group(1) not in KEYWORDS and "=" not in decl \
                    and decl.rstrip().endswith(")"):
                j, d = i, 0
                while j < len(code):
                    d += {"{": 1, "}": -1}.get(code[j], 0)
                    if d == 0:
                        break
                    j += 1
                lead = len(decl) - len(decl.lstrip())
                first = code.count("\n", 0, decl_start + lead) + 1
                last = code.count("\n", 0, j) + 1
                found.append((m.group(1), first, last, code[i:j + 1],
                              decl.lstrip().startswith("static")))
                i = decl_start = j + 1
                continue
            depth += 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                decl_start = i + 1
        elif c == ";" and depth == 0:
            decl_start = i + 1
        i += 1
    return found


def report_call_graph():
    """{file: {other report file whose function it calls}}: a call of a
    name that another report file defines without `static` (and the file
    does not define itself)."""
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(SRC, "report*.c")))
    exported = {}
    own = {}
    bodies = {}
    for f in files:
        fns = functions(os.path.join(SRC, f))
        bodies[f] = "\n".join(fn[3] for fn in fns)
        own[f] = {fn[0] for fn in fns}
        for name, _, _, _, static in fns:
            if not static:
                exported.setdefault(name, set()).add(f)
    graph = {}
    for f in files:
        graph[f] = set()
        for m in IDENT.finditer(bodies[f]):
            if m.group(1) not in own[f]:
                graph[f].update(exported.get(m.group(1), ()))
    return graph


def find_cycle(graph):
    """A list of files forming a cycle, or None."""
    state = {}
    stack = []

    def visit(f):
        state[f] = "open"
        stack.append(f)
        for g in sorted(graph.get(f, ())):
            if state.get(g) == "open":
                return stack[stack.index(g):] + [g]
            if g not in state:
                c = visit(g)
                if c:
                    return c
        stack.pop()
        state[f] = "done"
        return None

    for f in sorted(graph):
        if f not in state:
            c = visit(f)
            if c:
                return c
    return None


def test_the_call_graph_sees_calls():
    # the parser itself: the writer calls the JSON writer and the text
    # helpers, the command calls the writer
    g = report_call_graph()
    assert "report_json.c" in g["report_writer.c"], g
    assert "report_text.c" in g["report_writer.c"], g
    assert "report_writer.c" in g["report_db.c"], g
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_report_files_depend_one_way():
    g = report_call_graph()
    cycle = find_cycle(g)
    assert cycle is None, "the report's files call each other in a cycle: " + " -> ".join(cycle)
    assert set(g) == set(REPORT_LAYERS), (
        "src/report*.c is %s; add a new file to REPORT_LAYERS and docs/architecture.md"
        % sorted(g))
    wrong = {f: sorted(g[f] - REPORT_LAYERS[f]) for f in g if g[f] - REPORT_LAYERS[f]}
    assert not wrong, "report files calling a layer above their own: %s" % wrong


def test_no_source_file_over_800_lines():
    long = {}
    for p in sorted(glob.glob(os.path.join(SRC, "*.c"))):
        n = read(p).count("\n")
        if n > MAX_FILE_LINES:
            long[os.path.relpath(p, ROOT)] = n
    assert not long, "files over %d lines: %s" % (MAX_FILE_LINES, long)


def test_no_function_over_100_lines():
    long = []
    for p in sorted(glob.glob(os.path.join(SRC, "*.c"))):
        for name, first, last, _, _ in functions(p):
            if last - first + 1 > MAX_FUNCTION_LINES:
                long.append("%s:%d %s (%d lines)" % (os.path.relpath(p, ROOT), first, name,
                                                    last - first + 1))
    assert not long, "functions over %d lines: %s" % (MAX_FUNCTION_LINES, long)
