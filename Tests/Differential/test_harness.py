"""Self-tests of the differential harness: the recorder splits like a lenient backend, and the
rule fires on each kind of violation (so a passing differential run means something)."""

import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402
from recorder import Recorder, parse_request  # noqa: E402

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"


def outcome(bodies=(), statuses=(), end="open"):
    """A classified outcome: the upstream saw `bodies`, the proxy itself answered `statuses`."""
    result = {"requests": [{"body": b, "target": "/"} for b in bodies], "partials": [],
              "responses": [(s, False) for s in statuses], "closed": end == "closed",
              "timed_out": end == "timeout", "unparsed": False, "error": None}
    return driver.classify(result)


class RecorderParsing(unittest.TestCase):
    def test_content_length_body_stays_one_request(self):
        raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 35\r\n\r\n" + SMUGGLED
        request, used = parse_request(raw)
        self.assertEqual(request["body"], SMUGGLED)
        self.assertEqual(used, len(raw))

    def test_a_request_after_the_framed_body_is_a_second_request(self):
        raw = b"POST / HTTP/1.1\r\nHost: a\r\n\r\n" + SMUGGLED  # Content-Length dropped by a proxy
        first, used = parse_request(raw)
        self.assertEqual(first["body"], b"")
        second, rest = parse_request(raw[used:])
        self.assertEqual(second["target"], "/smuggled")
        self.assertEqual(used + rest, len(raw))

    def test_chunked_wins_and_is_decoded(self):
        raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n"
        request, used = parse_request(raw)
        self.assertEqual((request["framing"], request["body"], used), ("chunked", b"hello", len(raw)))

    def test_lenient_about_bare_lf_and_incomplete_means_wait(self):
        request, _ = parse_request(b"GET /x HTTP/1.1\nHost: a\n\n")
        self.assertEqual(request["target"], "/x")
        self.assertIsNone(parse_request(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nhello"))
        self.assertIsNone(parse_request(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"))

    def test_recorder_records_every_request_of_a_connection_and_answers_each(self):
        recorder = Recorder().start()
        try:
            recorder.begin("t")
            with socket.create_connection(("127.0.0.1", recorder.port), timeout=5) as sock:
                sock.sendall(b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi" + SMUGGLED)
                seen = b""
                while seen.count(b"HTTP/1.1 200") < 2:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    seen += chunk
            self.assertTrue(driver.poll_until(lambda: not recorder.busy(), 5))
            requests, partials = recorder.taken("t")
            self.assertEqual([(r["target"], r["body"]) for r in requests], [("/a", b"hi"), ("/smuggled", b"")])
            self.assertEqual(partials, [])
        finally:
            recorder.stop()


class Rule(unittest.TestCase):
    def assertViolation(self, nginx, rampart, fragment):
        reason = driver.verdict(nginx, rampart)
        self.assertIsNotNone(reason)
        self.assertIn(fragment, reason)

    def test_forwarding_what_nginx_rejects_is_a_violation(self):
        self.assertViolation(outcome(statuses=[400]), outcome(bodies=[b""]), "nginx rejected")
        self.assertViolation(outcome(end="closed"), outcome(bodies=[b""]), "nginx closed")
        self.assertViolation(outcome(end="timeout"), outcome(bodies=[b""]), "nginx timeout")

    def test_hanging_where_nginx_answers_is_a_violation(self):
        self.assertViolation(outcome(statuses=[400]), outcome(end="timeout"), "did not answer")

    def test_a_different_request_count_or_body_is_a_violation(self):
        self.assertViolation(outcome(bodies=[SMUGGLED]), outcome(bodies=[b"", b""]), "1 request(s) via nginx, 2")
        self.assertViolation(outcome(bodies=[b"hello"]), outcome(bodies=[b"hell"]), "request 1: body")

    def test_a_crash_is_a_violation(self):
        rampart = outcome(end="closed")
        rampart["crashed"] = "exit status -11"
        self.assertViolation(outcome(statuses=[400]), rampart, "rampart exited")

    def test_an_unreachable_nginx_proves_nothing(self):
        nginx = outcome(end="closed")
        nginx["error"] = "connect: Connection refused"
        self.assertViolation(nginx, outcome(statuses=[400]), "harness")

    def test_stricter_or_equal_is_allowed(self):
        self.assertIsNone(driver.verdict(outcome(bodies=[b""]), outcome(statuses=[400])))
        self.assertIsNone(driver.verdict(outcome(bodies=[b"a", b""]), outcome(bodies=[b"a", b""])))
        self.assertIsNone(driver.verdict(outcome(statuses=[501]), outcome(statuses=[400])))
        self.assertIsNone(driver.verdict(outcome(statuses=[400]), outcome(end="closed")))
        self.assertIsNone(driver.verdict(outcome(end="timeout"), outcome(end="timeout")))

    def test_baseline_cases_must_behave_or_the_harness_is_broken(self):
        row = {"case": {"id": "b", "category": "baseline"}, "nginx": outcome(bodies=[b""]), "rampart": outcome(end="closed")}
        self.assertIn("baseline", driver.judge(row))
        row = {"case": {"id": "b", "category": "baseline-auth"}, "nginx": outcome(statuses=[401]),
               "rampart": outcome(bodies=[b""])}
        self.assertIn("baseline", driver.judge(row))


class Corpus(unittest.TestCase):
    def test_corpus_is_large_unique_and_decoded(self):
        cases = driver.load_corpus(os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.txt"))
        self.assertGreaterEqual(len(cases), 150)
        self.assertEqual(len({c["id"] for c in cases}), len(cases))
        by_id = {c["id"]: c["raw"] for c in cases}
        self.assertEqual(by_id["base-get"], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(len(by_id["path-long-40k"]), len(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") + 40000)
        self.assertIn(b"\x00", by_id["path-raw-nul"])
        categories = {c["category"] for c in cases}
        for needed in ("baseline", "baseline-auth", "framing", "connection", "chunked", "whitespace", "host", "path"):
            self.assertIn(needed, categories)

    def test_response_parsing_counts_only_complete_final_responses(self):
        buf = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Recorder: 1\r\n\r\nok"
               b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbad\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\npartial")
        responses, rest, unparsed = driver.parse_responses(buf, closed=False)
        self.assertEqual(responses, [(200, True), (400, False)])
        self.assertFalse(unparsed)
        self.assertTrue(rest.endswith(b"partial"))


if __name__ == "__main__":
    unittest.main()
