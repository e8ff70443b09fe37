"""`fastrlap learner serve` refuses what it cannot serve in one line, before any car connects."""

import socket

from fastrlap.cli import main

SMALL = ["agent.encoder=random", "agent.hidden_dim=32", "agent.num_qs=2"]


def test_a_port_in_use_is_one_line_naming_bind(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["learner", "serve", f"run_dir={tmp_path / 'learner'}", f"bind=tcp://127.0.0.1:{port}", *SMALL])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "cannot listen on bind=" in err[0], err


def test_a_damaged_ledger_is_one_line_naming_it(tmp_path, capsys):
    run = tmp_path / "learner"
    run.mkdir()
    (run / "cars.json").write_text("{not json")
    code = main(["learner", "serve", f"run_dir={run}", "bind=tcp://127.0.0.1:0", *SMALL])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "cars.json is damaged" in err[0], err
