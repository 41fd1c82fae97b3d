"""The newest-value hand-off between threads (vcam_sr/slot.py)."""
import threading

from vcam_sr.slot import Slot


def test_a_value_not_taken_is_replaced_and_counted():
    slot = Slot()
    assert slot.put(1) is False
    assert slot.put(2) is True  # 1 was never taken: dropped
    assert slot.take(timeout=0) == 2
    assert slot.take(timeout=0) is None  # taken: nothing fresh until the next put
    assert slot.count == 2


def test_take_waits_for_a_value_from_another_thread():
    slot, started = Slot(), threading.Event()

    def later():
        started.wait(5)
        slot.put("frame")

    threading.Thread(target=later).start()
    started.set()
    assert slot.take(timeout=5) == "frame"


def test_close_wakes_a_waiter_and_a_last_value_is_still_taken():
    slot = Slot()
    got = []
    waiter = threading.Thread(target=lambda: got.append(slot.take(timeout=30)))
    waiter.start()
    slot.close()
    waiter.join(timeout=5)
    assert not waiter.is_alive() and got == [None]
    other = Slot()
    other.put("last")
    other.close()
    assert other.take(timeout=0) == "last" and other.take(timeout=0) is None


def test_several_readers_follow_the_newest_without_taking():
    slot = Slot()
    slot.put("a")
    assert slot.newer(0, timeout=0) == ("a", 1)
    assert slot.newer(1, timeout=0.01) == (None, 1)  # nothing newer yet
    slot.put("b")
    assert slot.newer(1, timeout=0) == ("b", 2) and slot.newest() == ("b", 2)
    slot.discard()
    assert slot.take(timeout=0) is None
