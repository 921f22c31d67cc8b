"""The end-to-end checks' report: a PASS/FAIL line per check, then 'N passed, N failed'
and an exit status of 1 on any failure; and `eventually`, for what a check must wait for."""
import sys
import time

results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'}: {name}" + (f" ({detail})" if detail else ""))


def finish():
    passed, failed = results.count(True), results.count(False)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def eventually(f, seconds):
    """f()'s first truthy value within `seconds` (polled every half second), else its last."""
    deadline = time.time() + seconds
    value = f()
    while not value and time.time() < deadline:
        time.sleep(0.5)
        value = f()
    return value
