"""The sizes of the Dask runner's chunks (rnndyn._runner._ChunkSizer): one task until
a time is measured, then about DASK_CHUNK_SECONDS of work, shrinking at the end."""

from rnndyn._runner import _ChunkSizer


def test_one_task_per_chunk_until_a_time_is_measured():
    assert _ChunkSizer(0.5).size(remaining=1000, threads=2) == 1


def test_cheap_tasks_are_chunked_to_the_target_time():
    sizer = _ChunkSizer(0.5)
    sizer.measured(4, 0.2)  # 50 ms a task
    assert sizer.size(remaining=1000, threads=2) == 10


def test_last_chunks_shrink_so_that_the_workers_end_together():
    sizer = _ChunkSizer(0.5)
    sizer.measured(4, 0.004)  # 1 ms a task: the target alone would send 500
    assert sizer.size(remaining=100, threads=2) == 25
    assert sizer.size(remaining=3, threads=2) == 1


def test_slow_tasks_go_one_by_one():
    sizer = _ChunkSizer(0.5)
    sizer.measured(2, 10.0)
    assert sizer.size(remaining=1000, threads=2) == 1
