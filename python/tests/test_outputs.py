"""Every file the package writes goes through one atomic, checked write (issue 23, family 3).

What these tests cover, honestly: the tests run as root, and root ignores file permissions, so a
read-only folder cannot be made with chmod. A failing write is made three ways instead: a file
size limit (``RLIMIT_FSIZE``: the kernel refuses the write with EFBIG, root or not, like a full
disk refuses it with ENOSPC), a writer that raises ENOSPC itself, and targets no write can reach
(a folder whose "parent" is a file, an over-long name, a device such as ``/dev/full``).
"""
from __future__ import annotations

import errno
import os
import stat

import pytest

import dclkit
from dclkit._files import atomic_write


def _leftovers(folder) -> list:
    return [name for name in os.listdir(folder) if ".tmp-" in name]


def test_a_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    assert atomic_write(target, lambda f: f.write(b"new content")) == str(target)
    assert target.read_bytes() == b"new content"
    assert _leftovers(tmp_path) == []


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")

    def disk_full(file):
        file.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(dclkit.DCLIOError, match="No space left on device"):
        atomic_write(target, disk_full, "--out")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["/dev/full", "/dev/null"])
def test_devices_are_refused_and_left_as_they_are(where):
    """Writing to /dev/full fails unseen by a buffered writer, and renaming over a device would
    replace the node: a device target is refused before anything is written."""
    with pytest.raises(dclkit.DCLIOError, match="not a regular file"):
        atomic_write(where, lambda f: f.write(b"x"), "--out")
    assert stat.S_ISCHR(os.stat(where).st_mode)
    assert _leftovers("/dev") == []


def test_unreachable_targets_are_io_errors(tmp_path):
    """A folder target, a parent that is a file (stands for a folder the process cannot write),
    a missing folder and an over-long name: DCLIOError naming the file."""
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "folder").mkdir()
    for target, message in [(tmp_path / "folder", "a folder"), (tmp_path / "file" / "x.npy", "Not a directory"),
                            (tmp_path / "missing" / "x.npy", "No such file"),
                            (tmp_path / ("n" * 300), "File name too long")]:
        with pytest.raises(dclkit.DCLIOError, match=message):
            atomic_write(target, lambda f: f.write(b"x"), "--out")
    assert (tmp_path / "file").read_bytes() == b"x" and _leftovers(tmp_path) == []


def test_a_planted_symlink_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "out.npy").symlink_to(victim)
    atomic_write(tmp_path / "out.npy", lambda f: f.write(b"features"))
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "out.npy").is_symlink() and (tmp_path / "out.npy").read_bytes() == b"features"


def test_plots_and_reports_go_through_the_checked_write(tmp_path):
    """dclkit.plot.history to a device: DCLIOError, not a silent success."""
    with pytest.raises(dclkit.DCLIOError):
        dclkit.plot.history([{"epoch": 1, "loss": 1.0}], "/dev/full")
    with pytest.raises(dclkit.DCLFileNotFoundError):
        dclkit.plot.history([{"epoch": 1, "loss": 1.0}], tmp_path / "nowhere" / "h.png")


EMBED_UNDER_A_SIZE_LIMIT = """
import os, resource, signal, sys
import dclkit
from dclkit.__main__ import main

folder = sys.argv[1]
trainer = dclkit.Trainer(dclkit.TrainConfig(width=0.125, batch_size=16, image_size=8, epochs=1))
trainer.save(os.path.join(folder, "c.safetensors"))
old = os.path.join(folder, "feats.npy")
with open(old, "wb") as f:
    f.write(b"old features")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))   # the features need far more
code = main(["embed", "--checkpoint", os.path.join(folder, "c.safetensors"), "--data", "builtin:digits",
             "--out", old])
print("exit", code)
"""


def test_embed_over_an_existing_file_on_a_full_disk_keeps_the_old_file(tmp_path):
    """embed --out FILE where the write fails (a file size limit: the kernel's EFBIG, as a full
    disk's ENOSPC): exit 2, one error line, the old file intact, no temporary left."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", EMBED_UNDER_A_SIZE_LIMIT, str(tmp_path)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("exit 2"), done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write --out"), done.stderr
    assert (tmp_path / "feats.npy").read_bytes() == b"old features"
    assert _leftovers(tmp_path) == []


def test_embed_to_dev_full_is_an_error_not_saved(tmp_path, capsys):
    from dclkit.__main__ import main

    trainer = dclkit.Trainer(dclkit.TrainConfig(width=0.125, batch_size=16, image_size=8, epochs=1))
    trainer.save(tmp_path / "c.safetensors")
    code = main(["embed", "--checkpoint", str(tmp_path / "c.safetensors"), "--data", "builtin:digits",
                 "--out", "/dev/full"])
    captured = capsys.readouterr()
    assert code == 2 and "saved" not in captured.out
    assert captured.err.startswith("error: cannot write --out /dev/full") and captured.err.count("\n") == 1


def test_saves_to_a_fifo_or_a_socket_are_refused_and_leave_the_node(tmp_path):
    """The core's checkpoint and encoder writes and the Python writes share the rule: a target
    that is not a regular file (here a FIFO and a socket, standing in for /dev/null, which root
    could otherwise replace by the rename) is a DCLIOError and stays what it was; a symlink to
    one is replaced, not written through."""
    import socket

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    try:
        encoder = dclkit.Encoder("resnet18", width=0.125)
        trainer = dclkit.Trainer(dclkit.TrainConfig(width=0.125, batch_size=8, image_size=8, epochs=1))
        for target in (fifo, tmp_path / "sock"):
            for save in (encoder.save, trainer.save, lambda p: atomic_write(p, lambda f: f.write(b"x"))):
                with pytest.raises(dclkit.DCLIOError, match="not a regular file"):
                    save(target)
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and stat.S_ISSOCK(os.lstat(tmp_path / "sock").st_mode)
        (tmp_path / "link").symlink_to(fifo)
        encoder.save(tmp_path / "link")
        assert os.path.isfile(tmp_path / "link") and not os.path.islink(tmp_path / "link")
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    finally:
        server.close()
    assert _leftovers(tmp_path) == []
