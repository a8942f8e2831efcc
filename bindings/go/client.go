package escrow

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"libescrow/bindings/go/internal/raw"
	"libescrow/bindings/go/internal/stream"
)

// Upload kinds and run outputs of the Platform API.
const (
	UploadWCEK              = 1
	UploadCriteria          = 2
	UploadDataSpecification = 3
	UploadDataAttestation   = 4
	UploadAlgorithm         = 5

	OutputReport = 1
	OutputModel  = 2
	OutputLog    = 3
)

// ClientOptions for NewPlatformClient and NewEnclaveClient (nil: defaults).
type ClientOptions struct {
	CAFile   string // a PEM bundle to trust instead of the system's
	Audience string // the token's aud; "" means "frontoffice.beekeeperai"
	Timeout  uint   // seconds for a call that moves no file; 0 means 120
}

// ApiKek is your party's KEK public key as the platform gives it.
type ApiKek struct {
	KeyContent string `json:"key content"`
	FileName   string `json:"file_name"`
	Role       string `json:"role"`
	ProjectID  string `json:"project_id"`
}

// Artifact is one artifact version (WCEK, criteria, specification, attestation, dataset,
// algorithm). Details holds the type's own fields (e.g. the upload stages) as JSON.
type Artifact struct {
	ID                 string          `json:"id"`
	ProjectID          string          `json:"project_id"`
	ArtifactType       string          `json:"artifact_type"`
	Role               string          `json:"role"`
	Name               string          `json:"name"`
	Description        string          `json:"description"`
	VersionTag         string          `json:"version_tag"`
	VersionDescription string          `json:"version_description"`
	SHA256             string          `json:"sha256"`
	FileName           string          `json:"file_name"`
	SystemVersion      int64           `json:"system_version"`
	CreatedAt          int64           `json:"created_at"`
	Details            json.RawMessage `json:"details"`
}

// Versions is the project's artifact versions the caller may see.
type Versions struct {
	Project struct {
		ID           string `json:"id"`
		Name         string `json:"name"`
		State        string `json:"state"`
		TEE          string `json:"tee"`
		Training     bool   `json:"training"`
		SimulatedTEE bool   `json:"simulated_tee"`
	} `json:"project"`
	Role     string     `json:"role"`
	Versions []Artifact `json:"versions"`
}

// Run is a run's state as the run endpoints answer.
type Run struct {
	Status       string `json:"status"`
	Stage        string `json:"stage"`
	RunNumber    int64  `json:"run_number"`
	SimulatedTEE *bool  `json:"simulated_tee"` // nil when the answer does not say
	Reason       string `json:"reason"`
	Raw          json.RawMessage
}

// VersionFields are the fields every artifact upload carries.
type VersionFields struct {
	Name, VersionTag, Description, VersionDescription string
}

// AlgorithmFields are the algorithm upload's own fields.
type AlgorithmFields struct {
	AlgorithmType, ValidationCriteriaVersion, DataAttestationVersion string
	UploadType, UploadFileName                                       string // "": the defaults
}

// DatasetFields register a dataset version; the SAS URL is a bearer secret.
type DatasetFields struct {
	DatasetURI, DataSpecificationVersion, DataAttestationVersion, Tags string
}

// RunRef names a run by the two versions' tags (RunNumber 0: the latest).
type RunRef struct {
	AlgorithmVersion, DatasetVersion string
	RunNumber                        int64
}

// PlatformClient calls the Platform API as one user in one project, making the API sample's
// RS256 tokens from the user's private key. Used by one goroutine at a time; separate clients
// run concurrently. A refusal returns an *Error whose Code follows the HTTP status (400
// ErrInvalid, 401/403 ErrAuth, 404 ErrNotFound, 409 ErrState, 422 ErrCheck, 5xx and network
// ErrIO) and whose message carries the server's; LastStatus and LastBody keep the answer.
type PlatformClient struct{ h raw.Struct_SS_escrow_client }

// NewPlatformClient opens a client. baseURL is the API root ("https://host/api/v1"); key is the
// PEM (or base64 of the PEM) of the user's RSA private key.
func NewPlatformClient(baseURL string, key []byte, email, projectID string, opts *ClientOptions) (*PlatformClient, error) {
	if opts == nil {
		opts = &ClientOptions{}
	}
	var h raw.Struct_SS_escrow_client
	if _, err := callPtr(func() uintptr {
		h = raw.Goesc_client_open(baseURL, key, email, projectID, opts.CAFile, opts.Audience, opts.Timeout)
		return h.Swigcptr()
	}); err != nil {
		return nil, err
	}
	c := &PlatformClient{h: h}
	runtime.SetFinalizer(c, (*PlatformClient).Close)
	return c, nil
}

// NewPlatformClientFromFile reads the key from a PEM file.
func NewPlatformClientFromFile(baseURL, keyPath, email, projectID string, opts *ClientOptions) (*PlatformClient, error) {
	key, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, &Error{Code: ErrNotFound, Message: fmt.Sprintf("cannot read the key file: %v", err)}
	}
	defer func() {
		for i := range key {
			key[i] = 0
		}
	}()
	return NewPlatformClient(baseURL, key, email, projectID, opts)
}

func (c *PlatformClient) ptr() (raw.Struct_SS_escrow_client, error) {
	if c == nil || c.h == nil {
		return nil, errClosed("the platform client")
	}
	return c.h, nil
}

// Close frees the client (the private key is wiped).
func (c *PlatformClient) Close() error {
	if c != nil && c.h != nil {
		raw.Goesc_client_close(c.h)
		c.h = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// LastStatus is the HTTP status of the last answer (0: none arrived).
func (c *PlatformClient) LastStatus() int {
	p, err := c.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(c)
	return int(raw.Goesc_client_last_status(p))
}

// LastBody is the body of the last answer other than 2xx (the server's error document).
func (c *PlatformClient) LastBody() string {
	p, err := c.ptr()
	if err != nil {
		return ""
	}
	defer runtime.KeepAlive(c)
	b, _ := callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_client_last_body(p) })
	return string(b)
}

func (c *PlatformClient) jsonCall(out interface{}, f func(p raw.Struct_SS_escrow_client) raw.Struct_SS_goesc_buf) error {
	p, err := c.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(c)
	b, err := callBuf(func() raw.Struct_SS_goesc_buf { return f(p) })
	if err != nil {
		return err
	}
	return decode(b, out)
}

func decode(b []byte, out interface{}) error {
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], b...)
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return &Error{Code: ErrFormat, Message: "the answer does not have the documented shape: " + err.Error()}
	}
	return nil
}

// Token is a bearer token as the client sends it.
func (c *PlatformClient) Token() (string, error) {
	p, err := c.ptr()
	if err != nil {
		return "", err
	}
	defer runtime.KeepAlive(c)
	b, err := callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_client_token(p) })
	return string(b), err
}

// KekDownload fetches your party's KEK public key.
func (c *PlatformClient) KekDownload() (*ApiKek, error) {
	var k ApiKek
	return &k, c.jsonCall(&k, raw.Goesc_client_kek)
}

// Upload sends a WCEK, criteria, specification or attestation file (kind Upload*), streamed.
func (c *PlatformClient) Upload(kind int, path string, v VersionFields, progress Progress) (*Artifact, error) {
	return c.upload(kind, path, v, AlgorithmFields{}, progress)
}

// UploadAlgorithm sends the encrypted algorithm zip, streamed.
func (c *PlatformClient) UploadAlgorithm(path string, v VersionFields, a AlgorithmFields, progress Progress) (*Artifact, error) {
	return c.upload(UploadAlgorithm, path, v, a, progress)
}

func (c *PlatformClient) upload(kind int, path string, v VersionFields, a AlgorithmFields, progress Progress) (*Artifact, error) {
	p, err := c.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(c)
	var out []byte
	cb := stream.New(nil, progress)
	defer cb.Release()
	pf, pp := cb.ProgressArgs()
	out, err = callBuf(func() raw.Struct_SS_goesc_buf {
		return raw.Goesc_client_upload(p, kind, v.Name, v.Description, v.VersionTag, v.VersionDescription, path,
			a.AlgorithmType, a.ValidationCriteriaVersion, a.DataAttestationVersion, a.UploadType, a.UploadFileName, pf, pp)
	})
	if err != nil {
		return nil, err
	}
	var art Artifact
	return &art, decode(out, &art)
}

// AddDataset registers a dataset version by its container SAS URL.
func (c *PlatformClient) AddDataset(v VersionFields, d DatasetFields) (*Artifact, error) {
	var a Artifact
	return &a, c.jsonCall(&a, func(p raw.Struct_SS_escrow_client) raw.Struct_SS_goesc_buf {
		return raw.Goesc_client_dataset(p, v.Name, v.Description, v.VersionTag, v.VersionDescription,
			d.DatasetURI, d.DataSpecificationVersion, d.DataAttestationVersion, d.Tags)
	})
}

// AcceptCriteria accepts a validation criteria version (data steward); the answer as JSON.
func (c *PlatformClient) AcceptCriteria(versionTag string) (json.RawMessage, error) {
	var r json.RawMessage
	return r, c.jsonCall(&r, func(p raw.Struct_SS_escrow_client) raw.Struct_SS_goesc_buf {
		return raw.Goesc_client_accept(p, versionTag)
	})
}

// Versions lists the project's artifact versions (artifactType "": all).
func (c *PlatformClient) Versions(artifactType string) (*Versions, error) {
	var v Versions
	return &v, c.jsonCall(&v, func(p raw.Struct_SS_escrow_client) raw.Struct_SS_goesc_buf {
		return raw.Goesc_client_versions(p, artifactType)
	})
}

// Notifications returns the caller's notifications as JSON.
func (c *PlatformClient) Notifications() (json.RawMessage, error) {
	var r json.RawMessage
	return r, c.jsonCall(&r, raw.Goesc_client_notifications)
}

// RunConfiguration creates a run configuration (runType "": "validation").
func (c *PlatformClient) RunConfiguration(name string, r RunRef, description, runType string) (json.RawMessage, error) {
	var out json.RawMessage
	return out, c.jsonCall(&out, func(p raw.Struct_SS_escrow_client) raw.Struct_SS_goesc_buf {
		return raw.Goesc_client_run_configuration(p, name, r.AlgorithmVersion, r.DatasetVersion, description, runType)
	})
}

func (c *PlatformClient) run(op int, r RunRef, arg string, params []string) (*Run, error) {
	var b []byte
	if len(params) > 0 {
		b = []byte(strings.Join(params, "\x00") + "\x00")
	}
	var out json.RawMessage
	if err := c.jsonCall(&out, func(p raw.Struct_SS_escrow_client) raw.Struct_SS_goesc_buf {
		return raw.Goesc_client_run(p, op, r.AlgorithmVersion, r.DatasetVersion, r.RunNumber, arg, b)
	}); err != nil {
		return nil, err
	}
	var run Run
	var nested struct {
		Run *Run `json:"run"`
	}
	if err := decode(out, &nested); err == nil && nested.Run != nil {
		run = *nested.Run
		if run.SimulatedTEE == nil {
			var top struct {
				SimulatedTEE *bool `json:"simulated_tee"`
			}
			_ = json.Unmarshal(out, &top)
			run.SimulatedTEE = top.SimulatedTEE
		}
	} else if err := decode(out, &run); err != nil {
		return nil, err
	}
	run.Raw = out
	return &run, nil
}

// RunStatus returns a run's status, stage, number and whether its TEE is simulated.
func (c *PlatformClient) RunStatus(r RunRef) (*Run, error) { return c.run(0, r, "", nil) }

// RunRequest requests a run; parameters are runtime parameters (NAME: VALUE).
func (c *PlatformClient) RunRequest(r RunRef, machineType string, parameters map[string]string) (*Run, error) {
	var params []string
	for k, v := range parameters {
		params = append(params, k+"="+v)
	}
	return c.run(1, r, machineType, params)
}

// InitiateRun initiates a requested run.
func (c *PlatformClient) InitiateRun(r RunRef) (*Run, error) { return c.run(2, r, "", nil) }

// RejectRun rejects a requested run with a reason (data steward).
func (c *PlatformClient) RejectRun(r RunRef, reason string) (*Run, error) {
	return c.run(3, r, reason, nil)
}

// CancelRun cancels a run.
func (c *PlatformClient) CancelRun(r RunRef) (*Run, error) { return c.run(4, r, "", nil) }

// Report downloads a run's report: the "report content" text.
func (c *PlatformClient) Report(r RunRef) (string, error) {
	var out json.RawMessage
	if err := c.jsonCall(&out, func(p raw.Struct_SS_escrow_client) raw.Struct_SS_goesc_buf {
		return raw.Goesc_client_report(p, r.AlgorithmVersion, r.DatasetVersion, r.RunNumber)
	}); err != nil {
		return "", err
	}
	var m map[string]json.RawMessage
	if err := decode(out, &m); err != nil {
		return "", err
	}
	var s string
	if json.Unmarshal(m["report content"], &s) == nil {
		return s, nil
	}
	return string(m["report content"]), nil
}

// Download saves a run output (OutputReport, OutputModel, OutputLog) to outPath atomically.
func (c *PlatformClient) Download(which int, r RunRef, outPath string, progress Progress) error {
	p, err := c.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(c)
	_, err = streamCall(nil, progress, func(cb *stream.Callbacks) int64 {
		pf, pp := cb.ProgressArgs()
		return int64(raw.Goesc_client_download(p, which, r.AlgorithmVersion, r.DatasetVersion, r.RunNumber, outPath, pf, pp))
	})
	return err
}

// Call sends any other endpoint in the same style (method GET or POST, path "chat/").
func (c *PlatformClient) Call(method, path string, fields map[string]string) (json.RawMessage, error) {
	var kv []string
	for k, v := range fields {
		kv = append(kv, k, v)
	}
	var b []byte
	if len(kv) > 0 {
		b = []byte(strings.Join(kv, "\x00") + "\x00")
	}
	var out json.RawMessage
	return out, c.jsonCall(&out, func(p raw.Struct_SS_escrow_client) raw.Struct_SS_goesc_buf {
		return raw.Goesc_client_call(p, method, path, b)
	})
}

// EnclaveFile is one entry of the dataset listing inside the TEE.
type EnclaveFile struct {
	ID         json.RawMessage `json:"id"`
	Name       string          `json:"name"`
	Size       int64           `json:"size"`
	UploadDate string          `json:"uploadDate"`
}

// Verdict is the criteria's answer to a report.
type Verdict struct {
	Status  string          `json:"status"`
	Message json.RawMessage `json:"message"`
}

// Valid reports whether the criteria accepted the report.
func (v *Verdict) Valid() bool { return v.Status == "successful" }

// ReportIn is a report for Validate and Report; JSONData is the report document.
type ReportIn struct {
	Name, Status                   string
	JSONData                       interface{} // marshalled to JSON (a string is sent as given)
	Project, Run, RunConfiguration string
}

// EnclaveClient calls the Enclave API inside the TEE (baseURL "": $ENCLAVE_URL, then
// $ESCROW_RUNTIME_LOCATION, then https://localhost:5000).
type EnclaveClient struct{ h raw.Struct_SS_escrow_enclave }

// NewEnclaveClient opens an Enclave API client.
func NewEnclaveClient(baseURL string, opts *ClientOptions) (*EnclaveClient, error) {
	if opts == nil {
		opts = &ClientOptions{}
	}
	var h raw.Struct_SS_escrow_enclave
	if _, err := callPtr(func() uintptr {
		h = raw.Goesc_enclave_open(baseURL, opts.CAFile, opts.Timeout)
		return h.Swigcptr()
	}); err != nil {
		return nil, err
	}
	e := &EnclaveClient{h: h}
	runtime.SetFinalizer(e, (*EnclaveClient).Close)
	return e, nil
}

func (e *EnclaveClient) ptr() (raw.Struct_SS_escrow_enclave, error) {
	if e == nil || e.h == nil {
		return nil, errClosed("the enclave client")
	}
	return e.h, nil
}

// Close frees the client.
func (e *EnclaveClient) Close() error {
	if e != nil && e.h != nil {
		raw.Goesc_enclave_close(e.h)
		e.h = nil
		runtime.SetFinalizer(e, nil)
	}
	return nil
}

func (e *EnclaveClient) jsonCall(out interface{}, f func(p raw.Struct_SS_escrow_enclave) raw.Struct_SS_goesc_buf) error {
	p, err := e.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(e)
	b, err := callBuf(func() raw.Struct_SS_goesc_buf { return f(p) })
	if err != nil {
		return err
	}
	return decode(b, out)
}

// LastStatus is the HTTP status of the last answer.
func (e *EnclaveClient) LastStatus() int {
	p, err := e.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(e)
	return int(raw.Goesc_enclave_last_status(p))
}

// Files lists the dataset's files (sasURL "": the run's own dataset).
func (e *EnclaveClient) Files(sasURL string) ([]EnclaveFile, error) {
	var l struct {
		Files []EnclaveFile `json:"files"`
	}
	err := e.jsonCall(&l, func(p raw.Struct_SS_escrow_enclave) raw.Struct_SS_goesc_buf {
		return raw.Goesc_enclave_list(p, sasURL)
	})
	return l.Files, err
}

// ReadTo streams a decrypted file into w from offset (a Range request when > 0).
func (e *EnclaveClient) ReadTo(name string, w io.Writer, offset int64, progress Progress) error {
	p, err := e.ptr()
	if err != nil {
		return err
	}
	if w == nil {
		return &Error{Code: ErrInvalid, Message: "ReadTo needs a writer"}
	}
	defer runtime.KeepAlive(e)
	_, err = streamCall(w, progress, func(cb *stream.Callbacks) int64 {
		wf, wp := cb.WriteArgs()
		pf, pp := cb.ProgressArgs()
		return int64(raw.Goesc_enclave_get(p, name, offset, wf, wp, pf, pp))
	})
	return err
}

// Download saves a decrypted file to outPath atomically.
func (e *EnclaveClient) Download(name, outPath string, progress Progress) error {
	p, err := e.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(e)
	_, err = streamCall(nil, progress, func(cb *stream.Callbacks) int64 {
		pf, pp := cb.ProgressArgs()
		return int64(raw.Goesc_enclave_get_file(p, name, outPath, pf, pp))
	})
	return err
}

// Log posts a progress line (status "": "Progress").
func (e *EnclaveClient) Log(message, status string) error {
	p, err := e.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(e)
	_, err = call(func() int64 { return int64(raw.Goesc_enclave_log(p, message, status)) })
	return err
}

func (e *EnclaveClient) report(final int, r ReportIn) (*Verdict, error) {
	var doc string
	if s, ok := r.JSONData.(string); ok {
		doc = s
	} else {
		b, err := json.Marshal(r.JSONData)
		if err != nil {
			return nil, &Error{Code: ErrInvalid, Message: "json_data: " + err.Error()}
		}
		doc = string(b)
	}
	status := r.Status
	if status == "" {
		status = "Completed"
	}
	var v Verdict
	return &v, e.jsonCall(&v, func(p raw.Struct_SS_escrow_enclave) raw.Struct_SS_goesc_buf {
		return raw.Goesc_enclave_report(p, final, r.Name, status, doc, r.Project, r.Run, r.RunConfiguration)
	})
}

// Validate checks a report against the approved criteria without sending it.
func (e *EnclaveClient) Validate(r ReportIn) (*Verdict, error) { return e.report(0, r) }

// Report posts the final report (only one that passes the criteria leaves the TEE); a refusal
// by the criteria is a Verdict with Valid() false, not an error.
func (e *EnclaveClient) Report(r ReportIn) (*Verdict, error) { return e.report(1, r) }

// Artifact posts a file (e.g. a chart) as the multipart field artifact_file.
func (e *EnclaveClient) Artifact(path, fileName string, progress Progress) (json.RawMessage, error) {
	p, err := e.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(e)
	cb := stream.New(nil, progress)
	defer cb.Release()
	pf, pp := cb.ProgressArgs()
	b, err := callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_enclave_artifact(p, path, fileName, pf, pp) })
	if err != nil {
		return nil, err
	}
	return json.RawMessage(b), nil
}
