import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    setup = re.search(r"## Set-up on a fresh machine.*?```bash\n(.*?)```", README.read_text(), re.S)
    assert setup is not None
    commands = [line.split("#")[0].strip() for line in setup.group(1).splitlines()]
    commands = [c for c in commands if c]
    assert len(commands) == 2
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_readme_python_blocks_run():
    blocks = python_blocks()
    assert blocks, "the README lost its quickstart"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "__readme__"})
