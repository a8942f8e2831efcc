# Manual 7.3.1.2.1 "Report Validation [/api/v1/validate]", Python snippet.
# Added: the missing import os.
import os

import requests
import json
import base64

SERVER_URL="https://localhost:5000"
ENDPOINT="/api/v1/validate"

def validate_report(finalReport):
    """
    Post a report to the server for validation.
    :param finalReport: The final report as a JSON object.
    :return: The server response as a JSON object.
    """

    # define the api endpoint
    url = f"{SERVER_URL}{ENDPOINT}"

    # send the post request
    response = requests.post(url, json=finalReport, verify=False)

    # check the response
    if response.status_code == 200:
        print('Validation was successful')
        print(response.json())
    else:
        print('Bad request or validation failed')
        print(response.json())

    return response.json()

class_rep = "Any object can be here... can be text, can be dict, etc."
finalReport = {
    "json_data": base64.b64encode(json.dumps(class_rep).encode()).decode(),
    "name": "Sklearn Model",
    "project": os.environ.get('ESCROW_PROJECT_ID'),
    "run": os.environ.get('ESCROW_RUN_ID'),
    "run_configuration": os.environ.get('ESCROW_RUN_CONFIG_ID'),
    "status": "Completed",
    "upload_location": "your_upload_location"
}
validate_report(finalReport)
