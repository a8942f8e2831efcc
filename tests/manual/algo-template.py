import EnclaveSDK

configuration = EnclaveSDK.Configuration("https://localhost:5000")
api_client = EnclaveSDK.ApiClient(configuration)

def main():
    """Main function demonstrating how to use EnclaveSDK"""

    #####
    # 1. List available data files
    #####
    # Create an instance of Data API class and list files in blob storage
    api_instance = EnclaveSDK.DataApi(api_client)
    api_response = api_instance.api_v1_data_files_get()

    #####
    # 2. Fetch data files
    #####
    for file in api_response.files:
        api_response = api_instance.api_v1_data_file_get(file.name)
        break

    #####
    # 3. Post report
    #####
    # Create an instance of Report API class
    api_instance = EnclaveSDK.ReportApi(api_client)
    report = {"report": "Performance Report"}
    finalReport = {"json_data": report, "name": "EscrowAI Algorithm Package",
    "status": "Completed"}
    report = EnclaveSDK.Report.from_dict(finalReport)
    api_response = api_instance.api_v1_report_post(report)

if __name__ == "__main__":
    main()
