// The help page (quick actions > Help): where things are, and what is simulated.
export function Help() {
  return (
    <section class="card help" aria-labelledby="help-title">
      <h1 id="help-title">Help</h1>
      <h2>Keys</h2>
      <p>Each party downloads its project's Key Encryption Key (KEK) from the keys card, generates a Content Encryption Key (CEK) with the <a href="#/tool/cek">encryption tool</a>, encrypts its files with the CEK, and uploads the CEK wrapped with the KEK (the WCEK). Keep the CEK: the platform never sees it.</p>
      <h2>Encryption tool</h2>
      <p>The tool runs in this browser with Web Crypto; nothing it reads leaves the page. Its files are the same as the <code>escrow</code> command's: BKENC v1 files, the algorithm zip with <code>secrets.yaml</code>, and datasets with a signed manifest.</p>
      <h2>Dataset upload</h2>
      <p>Direct upload needs a container SAS URL with write and create permissions and a CORS rule on the storage account that allows this site (PUT, OPTIONS). The dataset URL given to the platform needs read and list permissions and must not expire within 24 hours.</p>
      <h2>Simulated TEE</h2>
      <p>Projects on the <strong>sandbox</strong> backend run algorithms in a simulated TEE (bubblewrap, cgroups and seccomp): the host can read its memory and there is no hardware attestation. Every such run is labelled “simulated TEE”.</p>
    </section>
  );
}
