"""The command-line conventions every command shares."""

from click.testing import CliRunner

from rnndyn.cli.main import COMMANDS, cli


def test_help_lists_every_command():
    res = CliRunner().invoke(cli, ["-h"])
    assert res.exit_code == 0
    for name in COMMANDS:
        assert name in res.output


def test_every_command_explains_itself_and_takes_the_common_options():
    import click
    runner = CliRunner()
    for name in COMMANDS:
        res = runner.invoke(cli, [name, "-h"])
        assert res.exit_code == 0, (name, res.output)
        command = cli.get_command(None, name)
        # a group (rnndyn data) is checked through its subcommands
        subs = ([[name, sub] for sub in command.list_commands(None)]
                if isinstance(command, click.Group) else [[name]])
        for args in subs:
            res = runner.invoke(cli, [*args, "-h"])
            assert res.exit_code == 0, (args, res.output)
            for opt in ("--out", "--json", "--quiet"):
                assert opt in res.output, (args, opt)
            # figure: each figure has its own seed; data: the split's seed is fixed
            if name not in ("figure", "data"):
                assert "--seed" in res.output, args


def test_unknown_command_exits_2():
    res = CliRunner().invoke(cli, ["nonsense"])
    assert res.exit_code == 2


def test_figure_unknown_name_is_one_line():
    res = CliRunner().invoke(cli, ["figure", "no-such-figure"])
    assert res.exit_code == 2
    assert res.output.strip().startswith("Error: unknown figure")
    assert "Traceback" not in res.output


def test_click_usage_errors_are_one_line():
    res = CliRunner().invoke(cli, ["spectrum", "--n", "abc"])
    assert res.exit_code == 2
    lines = [l for l in res.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: Invalid value for '--n'")


def test_help_exits_0_through_the_group():
    res = CliRunner().invoke(cli, ["--version"])
    assert res.exit_code == 0 and "rnndyn" in res.output
