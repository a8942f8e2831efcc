package escrow

import (
	"encoding/json"
	"errors"
	"runtime"
	"strings"

	"libescrow/bindings/go/internal/raw"
)

// Criteria are compiled validation criteria (a Cerberus 1.3 schema in JSON). Immutable: any
// number of goroutines may validate with one Criteria at the same time.
type Criteria struct{ h raw.Struct_SS_escrow_criteria }

// SchemaError is criteria Cerberus would refuse, with its SchemaError tree (JSON) if any.
type SchemaError struct {
	Err  *Error          // code ErrFormat and libescrow's message
	Tree json.RawMessage // the SchemaError tree, or nil
}

func (e *SchemaError) Error() string { return e.Err.Message }

// Unwrap gives the underlying *Error (code ErrFormat).
func (e *SchemaError) Unwrap() error { return e.Err }

// CriteriaOptions are Cerberus's Validator options.
type CriteriaOptions struct {
	AllowUnknown bool
	RequireAll   bool
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CompileCriteria compiles criteria from JSON text (opts may be nil). A refused schema gives
// a *SchemaError (errors.Is(err, ErrFormat) holds).
func CompileCriteria(schema []byte, opts *CriteriaOptions) (*Criteria, error) {
	if opts == nil {
		opts = &CriteriaOptions{}
	}
	au, ra := b2i(opts.AllowUnknown), b2i(opts.RequireAll)
	var h raw.Struct_SS_escrow_criteria
	if _, err := callPtr(func() uintptr {
		h = raw.Goesc_criteria_compile(schema, au, ra)
		return h.Swigcptr()
	}); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == ErrFormat {
			se := &SchemaError{Err: e}
			if b := raw.Goesc_criteria_schema_errors(schema, au, ra); b.Swigcptr() != 0 {
				se.Tree = takeBuf(b)
			}
			return nil, se
		}
		return nil, err
	}
	c := &Criteria{h: h}
	runtime.SetFinalizer(c, (*Criteria).Close)
	return c, nil
}

// Validation is a verdict: Errors is Cerberus's validator.errors as JSON ("{}" when valid).
type Validation struct {
	Valid  bool
	Errors json.RawMessage
}

func (c *Criteria) validate(mode int, in []byte) (bool, []byte, error) {
	if c == nil || c.h == nil {
		return false, nil, errClosed("the criteria")
	}
	defer runtime.KeepAlive(c)
	valid := make([]byte, 1)
	b, err := callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_criteria_validate(c.h, mode, in, valid) })
	if err != nil {
		return false, nil, err
	}
	return valid[0] == 1, b, nil
}

// Validate validates a JSON document. Breaking the rules is not an error.
func (c *Criteria) Validate(doc []byte) (Validation, error) {
	v, b, err := c.validate(0, doc)
	return Validation{v, b}, err
}

// ValidateFile validates a JSON file, read in chunks.
func (c *Criteria) ValidateFile(path string) (Validation, error) {
	v, b, err := c.validate(2, []byte(path))
	return Validation{v, b}, err
}

// ValidateReport validates a report's json_data as the Enclave API receives it (an object,
// a JSON string or base64 of JSON) and returns the API's answer
// {"status":"successful"|"failed","message":...}.
func (c *Criteria) ValidateReport(jsonData []byte) (bool, json.RawMessage, error) {
	return c.validate(1, jsonData)
}

// Audit lists every channel through which a conforming report can carry free-form data.
func (c *Criteria) Audit() (json.RawMessage, error) {
	if c == nil || c.h == nil {
		return nil, errClosed("the criteria")
	}
	defer runtime.KeepAlive(c)
	return callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_criteria_audit(c.h) })
}

// Close frees the criteria.
func (c *Criteria) Close() error {
	if c != nil && c.h != nil {
		raw.Goesc_criteria_free(c.h)
		c.h = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// CheckPair runs one line of the differential protocol ({"schema","document","options"?}).
func CheckPair(line []byte) (json.RawMessage, error) {
	return callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_criteria_check_pair(line) })
}

// SAS check flags.
const (
	SasPathStyle         = 0x1   // the account is the first path segment on any host
	SasAllowLoopbackHTTP = 0x100 // http:// on a loopback host passes (Azurite)
)

// SasCheck is the EscrowAI UI's judgement of a dataset SAS URL.
type SasCheck struct {
	Status  string // "valid", "invalid", "expiring", "expired" or "not yet valid"
	Message string // the UI's message for the status
	Reason  string // the rule that decided (never the signature)
}

// CheckSas judges url at now (RFC 3339; "" means the system clock).
func CheckSas(url, now string, flags uint) (SasCheck, error) {
	b, err := callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_sas_check(url, now, flags) })
	if err != nil {
		return SasCheck{}, err
	}
	p := strings.SplitN(string(b), "\n", 3)
	for len(p) < 3 {
		p = append(p, "")
	}
	return SasCheck{p[0], p[1], p[2]}, nil
}
