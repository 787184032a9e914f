#!/usr/bin/env bash
# Regenerates every file under certs/: the two Azure roots (copied from
# Debian's ca-certificates) and the test PKI under certs/test/.
#
# Only the openssl CLI (3.x) is used. Validity windows are fixed dates, so the
# tests that check them against a fixed clock keep passing; keys and ECDSA
# signatures are random, so every run gives new bytes (commit them all).
#
# Usage: certs/regenerate.sh        (from anywhere)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
roots="$here/roots"
out="$here/test"
mozilla=/usr/share/ca-certificates/mozilla

# Everyday validity of the test PKI, and the window of the expired leaf.
START=20250101000000Z
END=20450101000000Z
EXPIRED_START=20200101000000Z
EXPIRED_END=20210101000000Z

# ---------------------------------------------------------------- Azure roots
# Azure IoT Hub and DPS serve chains to DigiCert Global Root G2 and, after the
# Azure TLS migration, to Microsoft RSA Root Certificate Authority 2017.
mkdir -p "$roots"
for name in DigiCert_Global_Root_G2 Microsoft_RSA_Root_Certificate_Authority_2017; do
    src="$mozilla/$name.crt"
    if [ ! -f "$src" ]; then
        echo "missing $src: apt-get install -y ca-certificates" >&2
        exit 1
    fi
    openssl x509 -in "$src" -out "$roots/$name.pem"
    openssl x509 -in "$src" -outform DER -out "$roots/$name.der"
done

# ---------------------------------------------------------------- test PKI
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/newcerts"
: > "$work/index.txt"

cat > "$work/ca.cnf" <<EOF
[ ca ]
default_ca = test_ca

[ test_ca ]
dir              = $work
database         = \$dir/index.txt
new_certs_dir    = \$dir/newcerts
serial           = \$dir/serial
default_md       = sha256
policy           = policy_any
unique_subject   = no
email_in_dn      = no
copy_extensions  = none
preserve         = yes

[ policy_any ]
organizationName = optional
commonName       = supplied

[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = unused
EOF

# X.509v3 extensions of each kind of certificate (RFC 5280 section 4.2).
cat > "$work/ext.cnf" <<'EOF'
[ root_ca ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ intermediate_ca ]
basicConstraints       = critical, CA:true, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# A sub-CA under an intermediate whose pathlen is 0: the path is too long.
[ sub_intermediate_ca ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# A CA certificate whose keyUsage does not allow it to sign certificates.
[ ca_without_cert_sign ]
basicConstraints       = critical, CA:true, pathlen:0
keyUsage               = critical, digitalSignature, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ server ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = @server_names
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ server_names ]
DNS.1 = localhost
DNS.2 = *.azure-devices.test
DNS.3 = hub.azure-devices.test
DNS.4 = global.azure-devices-provisioning.test
DNS.5 = broker.iot.test
IP.1  = 127.0.0.1

# CN names the hub, the SAN does not: no CN fallback must reject it.
[ server_wrong_name ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:wrong.example.test
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# CN names the hub and there is no SAN at all.
[ server_cn_only ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# Good names, but the key is for TLS clients only.
[ server_client_eku ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectAltName         = @server_names
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# Good names and EKU, but keyUsage forbids signing (TLS needs it).
[ server_no_digital_signature ]
basicConstraints       = critical, CA:false
keyUsage               = critical, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = @server_names
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ device ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
EOF

serial=4096

# key NAME ec|rsa|p384
key() {
    case "$2" in
        ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
                -pkeyopt ec_param_enc:named_curve -out "$out/$1.key" ;;
        p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 \
                -pkeyopt ec_param_enc:named_curve -out "$out/$1.key" ;;
        rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
                -out "$out/$1.key" 2>/dev/null ;;
    esac
}

# issue NAME CN ISSUER EXTENSIONS [START END [openssl ca options...]]
# ISSUER "self" makes a self-signed root.
issue() {
    local name="$1" cn="$2" issuer="$3" ext="$4"
    local start="${5:-$START}" end="${6:-$END}"
    shift 6 || shift $#
    serial=$((serial + 1))
    printf '%X\n' "$serial" > "$work/serial"
    openssl req -new -config "$work/ca.cnf" -key "$out/$name.key" \
        -subj "/O=Duet Test PKI/CN=$cn" -out "$work/$name.csr"
    local signer=(-cert "$out/$issuer.pem" -keyfile "$out/$issuer.key")
    if [ "$issuer" = self ]; then
        signer=(-selfsign -keyfile "$out/$name.key")
    fi
    openssl ca -batch -notext -config "$work/ca.cnf" "${signer[@]}" \
        -startdate "$start" -enddate "$end" \
        -extfile "$work/ext.cnf" -extensions "$ext" \
        -in "$work/$name.csr" -out "$out/$name.pem" "$@" 2>/dev/null
    openssl x509 -in "$out/$name.pem" -outform DER -out "$out/$name.der"
}

# chain NAME CERT... : NAME.chain.pem as a TLS server sends it (leaf first).
chain() {
    local name="$1"
    shift
    : > "$out/$name.chain.pem"
    for c in "$@"; do cat "$out/$c.pem" >> "$out/$name.chain.pem"; done
}

rm -f "$out"/*.key "$out"/*.pem "$out"/*.der

# ECDSA P-256 hierarchy: the root every test device trusts.
key root-ca ec
issue root-ca "Duet Test Root CA" self root_ca
key intermediate-ca ec
issue intermediate-ca "Duet Test Intermediate CA" root-ca intermediate_ca
key server-p256 ec
issue server-p256 "hub.azure-devices.test" intermediate-ca server
chain server-p256 server-p256 intermediate-ca

# RSA-2048 intermediate under the same root, and RSA leaves in each signature
# algorithm webpki accepts (PSS only with salt length = hash length).
key intermediate-ca-rsa rsa
issue intermediate-ca-rsa "Duet Test Intermediate CA RSA" root-ca intermediate_ca
key server-rsa2048 rsa
issue server-rsa2048 "hub.azure-devices.test" intermediate-ca-rsa server "$START" "$END" -md sha256
chain server-rsa2048 server-rsa2048 intermediate-ca-rsa
key server-rsa-sha384 rsa
issue server-rsa-sha384 "hub.azure-devices.test" intermediate-ca-rsa server "$START" "$END" -md sha384
key server-rsa-sha512 rsa
issue server-rsa-sha512 "hub.azure-devices.test" intermediate-ca-rsa server "$START" "$END" -md sha512
key server-rsa-pss rsa
issue server-rsa-pss "hub.azure-devices.test" intermediate-ca-rsa server "$START" "$END" \
    -md sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest
key server-rsa-pss-sha384 rsa
issue server-rsa-pss-sha384 "hub.azure-devices.test" intermediate-ca-rsa server "$START" "$END" \
    -md sha384 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest

# ECDSA P-384 hierarchy (a second, independent trust anchor).
key root-ca-p384 p384
issue root-ca-p384 "Duet Test Root CA P-384" self root_ca "$START" "$END" -md sha384
key intermediate-ca-p384 p384
issue intermediate-ca-p384 "Duet Test Intermediate CA P-384" root-ca-p384 intermediate_ca \
    "$START" "$END" -md sha384
key server-p384 p384
issue server-p384 "hub.azure-devices.test" intermediate-ca-p384 server "$START" "$END" -md sha384
chain server-p384 server-p384 intermediate-ca-p384

# Device client certificates: CN is the device id (Azure IoT X.509 auth).
for dev in device-01 device-02; do
    key "$dev" ec
    issue "$dev" "$dev" intermediate-ca device
    chain "$dev" "$dev" intermediate-ca
done

# Deliberately bad certificates.
key bad-expired ec
issue bad-expired "hub.azure-devices.test" intermediate-ca server "$EXPIRED_START" "$EXPIRED_END"
key bad-wrong-name ec
issue bad-wrong-name "hub.azure-devices.test" intermediate-ca server_wrong_name
key bad-cn-only ec
issue bad-cn-only "hub.azure-devices.test" intermediate-ca server_cn_only
key bad-wrong-eku ec
issue bad-wrong-eku "hub.azure-devices.test" intermediate-ca server_client_eku
key bad-no-digital-signature ec
issue bad-no-digital-signature "hub.azure-devices.test" intermediate-ca server_no_digital_signature
# Issued by server-p256, a leaf (CA:false).
key bad-signed-by-leaf ec
issue bad-signed-by-leaf "hub.azure-devices.test" server-p256 server
# intermediate-ca has pathlen 0, so a CA below it cannot issue.
key sub-intermediate-ca ec
issue sub-intermediate-ca "Duet Test Sub-Intermediate CA" intermediate-ca sub_intermediate_ca
key bad-path-too-long ec
issue bad-path-too-long "hub.azure-devices.test" sub-intermediate-ca server
# A CA whose keyUsage lacks keyCertSign.
key intermediate-ca-no-cert-sign ec
issue intermediate-ca-no-cert-sign "Duet Test CA Without keyCertSign" root-ca ca_without_cert_sign
key bad-issuer-no-cert-sign ec
issue bad-issuer-no-cert-sign "hub.azure-devices.test" intermediate-ca-no-cert-sign server

echo "regenerated $(ls "$out"/*.der | wc -l) certificates in $out"
