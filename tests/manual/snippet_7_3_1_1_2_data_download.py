# Manual 7.3.1.1.2 "Data Downloading [/api/v1/data/file]", Python snippet.
# Added: nothing missing. Repaired: one comment wrapped by the PDF (joined).
import requests
from io import BytesIO

SERVER_URL="https://localhost:5000"
ENDPOINT = "/api/v1/data/file"

def download_file(file_name):
    response = requests.get(
        f"{SERVER_URL}{ENDPOINT}", params={"filepath": file_name}, verify=False
    )
    if response.status_code == 200:
        return response.content
    elif response.status_code == 404:
        print(f"File {file_name} not found")
        return None
    else:
        print(f"Unexpected error with status code: {response.status_code}")
        return None

file_name = "test_file.txt"
file_content = download_file(file_name)
# You can either use the file_content directly or convert it to a Binary I/O file
if file_content:
    data_io = BytesIO(file_content)
    with open(data_io, "rb") as f:
        file_content = f.read() # get back to the binary file content that was returned from the endpoint
