"""The local executor: a run's task is cancelled once, so its end write is never interrupted."""

import asyncio

from hilo.runs.executor import LocalExecutor


def test_second_cancel_does_not_interrupt_the_end_write():
    ended: list[str] = []

    async def execute(run_id, _snapshot):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # the end write (slow on a remote database)
            ended.append(executor.reason(run_id))
            raise

    async def abandon(_run_id, _reason):
        raise AssertionError("the run had started")

    async def scenario():
        executor.submit("run_1")
        await asyncio.sleep(0.01)
        assert executor.cancel("run_1", "cancelled")
        await asyncio.sleep(0.01)  # the task is writing its end now
        assert executor.cancel("run_1", "expired")  # the sweeper, or an expiry, sees it again
        await asyncio.sleep(0.1)
        assert "run_1" not in executor.running()
        assert not executor.cancel("run_1", "cancelled")

    executor = LocalExecutor(execute, abandon, max_concurrent=2)
    asyncio.run(scenario())
    assert ended == ["cancelled"]
