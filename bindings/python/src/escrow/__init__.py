"""escrow: Python bindings of libescrow (keys, BKENC envelope encryption, packages,
criteria validation, SAS checks and signing, the blob client, the Platform and Enclave API
clients).

    import escrow
    cek = escrow.Cek.generate()
    with escrow.open_encrypt("data.csv.bkenc", cek, path="data.csv") as w:
        w.write(b"...")
    with escrow.open_decrypt("data.csv.bkenc", cek, expect_path="data.csv") as r:
        plaintext = r.read()

Errors are raised as subclasses of escrow.EscrowError, one per ESCROW_E_* family. The GIL
is released during every libescrow call, so threads with their own handles run in parallel.
"""
from ._native import c as _c
from .blob import BlobClient, BlobItem, BlobStats
from .client import (ApiKek, Artifact, EnclaveClient, EnclaveFile, PlatformClient, Report, Run,
                     Verdict, Versions)
from .criteria import Criteria, SasCheck, SchemaError, Validation, check_pair, check_sas
from .envelope import (DecryptReader, Decryptor, EncryptWriter, Encryptor, FileFormat, Header,
                       Reader, ciphertext_size, decrypt, decrypt_fd, decrypt_file, detect_format,
                       encrypt, encrypt_fd, encrypt_file, legacy_decrypt, legacy_decrypt_fd,
                       legacy_encrypt_fd, open_decrypt, open_encrypt, plaintext_size)
from .errors import (AuthenticationError, BufferSizeError, CheckError, CryptoError, EscrowError,
                     EscrowIOError, ExistsError, FormatError, InvalidArgumentError,
                     KeyMaterialError, LimitError, MismatchError, NotFoundError,
                     OutOfMemoryError, StateError, TruncatedError, UnsupportedError,
                     error_class)
from .keys import Cek, CekEncoding, Kek, KeyEncoding, OaepHash, unwrap_cek, wcek_filename, wrap_cek
from .sas import SasSignOptions, sas_sign, sas_sign_url, sas_string_to_sign, sas_verify
from .package import (AlgorithmPackage, Check, Manifest, ManifestEntry, decrypt_dataset,
                      encrypt_dataset, pack_algorithm)

__version__ = "0.1.0"


def library_version() -> str:
    """The version of the libescrow the extension is running against."""
    return _c.escrow_version()


_c.escrow_init()

__all__ = [name for name in dir() if not name.startswith("_")]
