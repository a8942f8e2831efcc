# Manual 7.3.1.2.2 "Report Posting [/api/v1/report]", "Python Reference Implementation".
# Added: the missing import os. Repaired: the report dict is split by a page break in the PDF,
# which leaves a stray "}" after its first entry; the two halves are joined.
import os

import requests
import json
import base64

SERVER_URL="https://localhost:5000"
ENDPOINT="/api/v1/report"

def post_report(report):
    """
    Post a report to the server for submission.
    :param report: The final report as a JSON object.
    :return: The server response as a JSON object.
    """
    # define the api endpoint
    url = f"{SERVER_URL}{ENDPOINT}"

    # send the post request
    response = requests.post(url, json=report, verify=False)

    # check the response
    if response.status_code == 200:
        print('Validation was successful')
        print(response.json())
    else:
        print('Bad request or validation failed')
        print(response.json())

    return response.json()

content_to_be_posted = "Any object can be here... can be text, can be dict, etc."
report = {
    "json_data": base64.b64encode(json.dumps(content_to_be_posted).encode()).decode(),
"name": "Sklearn Model",
"project": os.environ.get('ESCROW_PROJECT_ID'),
"run": os.environ.get('ESCROW_RUN_ID'),
"run_configuration": os.environ.get('ESCROW_RUN_CONFIG_ID'),
"status": "In Progress",
"upload_location": "Not in use currently. can be anything"
}
post_report(report)
