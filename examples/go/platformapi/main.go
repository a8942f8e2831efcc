// Command platformapi drives the EscrowAI Platform API with the escrow Go bindings: upload
// validation criteria, request a run, follow it and read its report. Tokens are made from your
// private key, as BeeKeeperAI's API sample makes them.
//
//	platformapi -base-url URL -key KEY.pem -email ME -project ID upload-criteria FILE TAG
//	platformapi ... request ALGORITHM_TAG DATASET_TAG [MACHINE_TYPE]
//	platformapi ... status ALGORITHM_TAG DATASET_TAG
//	platformapi ... report ALGORITHM_TAG DATASET_TAG
//
// Prints one JSON document. Exit 0 done, 1 refused by the platform, 2 usage or network error.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	escrow "libescrow/bindings/go"
)

func main() {
	base := flag.String("base-url", "", "the API root, e.g. https://host/api/v1")
	key := flag.String("key", "", "your RSA private key (PEM file)")
	email := flag.String("email", "", "your login e-mail")
	project := flag.String("project", "", "the project id")
	ca := flag.String("ca-file", "", "trust this CA bundle instead of the system's")
	flag.Parse()
	args := flag.Args()
	if *base == "" || *key == "" || *email == "" || *project == "" || len(args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: platformapi -base-url URL -key PEM -email E -project ID "+
			"upload-criteria FILE TAG | request|status|report ALG_TAG DATASET_TAG")
		os.Exit(2)
	}
	api, err := escrow.NewPlatformClientFromFile(*base, *key, *email, *project, &escrow.ClientOptions{CAFile: *ca})
	if err != nil {
		fail(err)
	}
	defer api.Close()
	var out interface{}
	switch args[0] {
	case "upload-criteria":
		a, err := api.Upload(escrow.UploadCriteria, args[1], escrow.VersionFields{Name: "Validation criteria", VersionTag: args[2]}, nil)
		if err != nil {
			fail(err)
		}
		out = map[string]string{"id": a.ID, "version_tag": a.VersionTag, "sha256": a.SHA256}
	case "request", "status":
		ref := escrow.RunRef{AlgorithmVersion: args[1], DatasetVersion: args[2]}
		var r *escrow.Run
		if args[0] == "request" {
			machine := "cpu-standard-2"
			if len(args) > 3 {
				machine = args[3]
			}
			r, err = api.RunRequest(ref, machine, nil)
		} else {
			r, err = api.RunStatus(ref)
		}
		if err != nil {
			fail(err)
		}
		out = r
	case "report":
		text, err := api.Report(escrow.RunRef{AlgorithmVersion: args[1], DatasetVersion: args[2]})
		if err != nil {
			fail(err)
		}
		var doc interface{}
		if json.Unmarshal([]byte(text), &doc) != nil {
			doc = text
		}
		out = map[string]interface{}{"report": doc}
	default:
		fmt.Fprintf(os.Stderr, "platformapi: unknown command %q\n", args[0])
		os.Exit(2)
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "platformapi: %v\n", err)
	refused := strings.Contains(err.Error(), "HTTP 4")
	for _, c := range []escrow.Code{escrow.ErrInvalid, escrow.ErrAuth, escrow.ErrNotFound, escrow.ErrState, escrow.ErrCheck} {
		if errors.Is(err, c) && refused {
			os.Exit(1)
		}
	}
	os.Exit(2)
}
