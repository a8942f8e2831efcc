package escrow

import (
	"strings"

	"libescrow/bindings/go/internal/raw"
)

// SasSignOptions says what a SAS grants. Kind "service" (the default: a container, or a blob
// with Blob set) or "account". Empty fields are not set.
type SasSignOptions struct {
	Kind                                                                            string
	Account, Container, Blob, Resource, Snapshot, Identifier                        string
	Permissions, Start, Expiry, IP, Protocol, Version                               string
	Services, ResourceTypes, EncryptionScope                                        string
	CacheControl, ContentDisposition, ContentEncoding, ContentLanguage, ContentType string
}

func (o *SasSignOptions) fields() []byte {
	f := []string{o.Kind, o.Account, o.Container, o.Blob, o.Resource, o.Snapshot, o.Identifier,
		o.Permissions, o.Start, o.Expiry, o.IP, o.Protocol, o.Version, o.Services,
		o.ResourceTypes, o.EncryptionScope, o.CacheControl, o.ContentDisposition,
		o.ContentEncoding, o.ContentLanguage, o.ContentType}
	return []byte(strings.Join(f, "\x00") + "\x00")
}

func sasSign(o *SasSignOptions, endpoint, key string, mode int) (string, error) {
	if o == nil {
		return "", &Error{Code: ErrInvalid, Message: "SAS options are required"}
	}
	f := o.fields()
	b, err := callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_sas_sign(f, endpoint, key, mode) })
	return string(b), err
}

// SasSign returns the SAS token ("sv=...&sig=...") signed with the Base64 account key, as
// Azure's SDKs sign it.
func SasSign(o *SasSignOptions, accountKey string) (string, error) {
	return sasSign(o, "", accountKey, 0)
}

// SasSignURL returns the whole SAS URL (endpoint "": https://<account>.blob.core.windows.net).
func SasSignURL(o *SasSignOptions, endpoint, accountKey string) (string, error) {
	return sasSign(o, endpoint, accountKey, 1)
}

// SasStringToSign is the exact text the signature covers (to diagnose a mismatch).
func SasStringToSign(o *SasSignOptions) (string, error) { return sasSign(o, "", "", 2) }

// SasVerify reports whether a SAS URL's signature matches the account key (only the signature
// is judged). pathStyle: the account is the URL's first path segment (emulators).
func SasVerify(url, accountKey string, pathStyle bool) (bool, error) {
	flags := uint(0)
	if pathStyle {
		flags = 1
	}
	n, err := call(func() int64 { return int64(raw.Goesc_sas_verify(url, accountKey, flags)) })
	return n == 1, err
}
