# Manual 7.3.1.1.1 "Data Listing [/api/v1/data/files]", Python snippet.
# Added: the missing import json. Repaired: one comment wrapped by the PDF (joined).
import json

import requests

SERVER_URL="https://localhost:5000"
ENDPOINT = "/api/v1/data/files"

def get_file_list():
    response = requests.get(f"{SERVER_URL}{ENDPOINT}", verify=False) # verify=False is to ignore SSL certificate validation

    if response.status_code == 200:
        data = response.json()
        print(json.dumps(data, indent=4))
        return data['files']
    else:
        # Handle potential errors based on status code
        if response.status_code == 400:
            print("Bad Request. Check your parameters.")
        elif response.status_code == 500:
            print("Internal Server Error on the API side.")
        else:
            print(f"Unexpected error with status code: {response.status_code}")
    return None
