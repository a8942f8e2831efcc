"""Tries to get a secret out of the enclave by every channel an algorithm has, then exits 0.

SECRET (a runtime parameter) stands for data read from the dataset. The test checks that it
appears in none of the outputs: stdout and stderr floods, files written outside the output
folder, a progress flood, a report that breaks the criteria (in a field the criteria know, in
an unknown field, in the name), and in training runs a model whose report is refused.
"""
import http.client
import json
import os
import ssl
import sys

assert os.environ["ENCLAVE_URL"] == "https://localhost:5000"
SECRET = os.environ["SECRET"]


CONN = http.client.HTTPSConnection("localhost", 5000, context=ssl.create_default_context(),
                                   timeout=60)  # one kept-alive connection for every call


def post(path, body):
    CONN.request("POST", path, body=json.dumps(body).encode(),
                 headers={"Content-Type": "application/json"})
    r = CONN.getresponse()
    r.read()
    return r.status


# stdout and stderr: 8 MiB each, the secret in every line
line = ("stdout " + SECRET + " ") * 16 + "\n"
for _ in range((8 << 20) // len(line)):
    sys.stdout.write(line)
    sys.stderr.write(line)
sys.stdout.flush()
# files: the code folder and the root are read-only; /tmp is scratch that ends with the sandbox
for path in ("/app/leak.txt", "/leak.txt", "/run/enclave/leak.txt", "/tmp/leak.txt"):
    try:
        with open(path, "w") as f:
            f.write(SECRET)
    except OSError:
        pass
if os.environ.get("ESCROW_OUTPUT_DIR"):
    with open(os.environ["ESCROW_OUTPUT_DIR"] + "/model.txt", "w") as f:
        f.write("model " + SECRET)
# progress: a flood of 3000 lines of 4 KiB
for i in range(3000):
    post("/api/v1/log", {"message": f"p{i:04d} " + "x" * 4096, "status": "In Progress"})
# reports that break the criteria: a value out of range, an unknown field, the secret everywhere
post("/api/v1/report", {"name": "leak " + SECRET, "status": "Completed",
                        "json_data": {"report": {"patients": SECRET, SECRET: SECRET}}})
post("/api/v1/report", {"name": "leak", "status": "Completed",
                        "json_data": {"report": {"patients": 5, "extra_" + SECRET: 1}}})
sys.exit(0)
