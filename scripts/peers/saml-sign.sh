#!/usr/bin/env bash
# Make a SAML 2.0 Response and sign it with xmlsec1 (an independent implementation), for the
# SAML connector's tests. Prints the signed XML on stdout.
#   saml-sign.sh KEYDIR        (KEYDIR/idp.key + idp.crt are made once: RSA, or P-256 with KEY=ec)
# Environment (all optional):
#   SIGN=assertion|response|both|none   which element(s) to sign (default assertion)
#   ALG=sha256|sha1                     signature and digest algorithm (default sha256)
#   KEY=rsa|ec                          key type when KEYDIR has none yet (default rsa)
#   NAMEID, EMAIL, USERNAME, SAML_GROUPS (comma-separated), ACS, DESTINATION, RECIPIENT, AUDIENCE,
#   ISSUER, INRESPONSETO, STATUS, NOT_BEFORE, NOT_ON_OR_AFTER (date -d offsets, e.g. "-1 min"),
#   ASSERTION_ID, RESPONSE_ID, PREFIXLIST
set -euo pipefail
KEYDIR=${1:?usage: saml-sign.sh KEYDIR}
mkdir -p "$KEYDIR"
SIGN=${SIGN:-assertion}; ALG=${ALG:-sha256}
EMAIL=${EMAIL:-alice@example.org}; NAMEID=${NAMEID:-$EMAIL}; USERNAME=${USERNAME:-alice}
SAML_GROUPS=${SAML_GROUPS:-admins,developers}
ACS=${ACS:-http://127.0.0.1:5556/dex/callback}
DESTINATION=${DESTINATION:-$ACS}; RECIPIENT=${RECIPIENT:-$ACS}
AUDIENCE=${AUDIENCE:-$ACS}
ISSUER=${ISSUER:-http://idp.test/metadata}
IRT=${INRESPONSETO:-_req_42}
STATUS=${STATUS:-urn:oasis:names:tc:SAML:2.0:status:Success}
fmt() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
NOW=$(fmt now); BEFORE=$(fmt "${NOT_BEFORE:--1 min}"); AFTER=$(fmt "${NOT_ON_OR_AFTER:-+5 min}")
RID=${RESPONSE_ID:-_r$(openssl rand -hex 16)}; AID=${ASSERTION_ID:-_a$(openssl rand -hex 16)}

if [ ! -f "$KEYDIR/idp.key" ]; then
  if [ "${KEY:-rsa}" = ec ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=test-idp" \
      -keyout "$KEYDIR/idp.key" -out "$KEYDIR/idp.crt" 2>/dev/null
  else
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=test-idp" \
      -keyout "$KEYDIR/idp.key" -out "$KEYDIR/idp.crt" 2>/dev/null
  fi
fi
if openssl x509 -in "$KEYDIR/idp.crt" -noout -text | grep -q "id-ecPublicKey"; then
  SIGALG="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
elif [ "$ALG" = sha1 ]; then
  SIGALG="http://www.w3.org/2000/09/xmldsig#rsa-sha1"
else
  SIGALG="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
fi
DIGALG="http://www.w3.org/2001/04/xmlenc#sha256"
[ "$ALG" = sha1 ] && DIGALG="http://www.w3.org/2000/09/xmldsig#sha1"

# PREFIXLIST="xs ..." adds InclusiveNamespaces to the reference's c14n (as Okta and ADFS do).
INC=""
[ -n "${PREFIXLIST:-}" ] && INC="<ec:InclusiveNamespaces xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\" PrefixList=\"$PREFIXLIST\"/>"
sigtpl() {
  printf '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="%s"/><ds:Reference URI="#%s"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">%s</ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="%s"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>' "$SIGALG" "$1" "$INC" "$DIGALG"
}
RSIG=""; ASIG=""
case "$SIGN" in response|both) RSIG=$(sigtpl "$RID");; esac
case "$SIGN" in assertion|both) ASIG=$(sigtpl "$AID");; esac
GVALS=""
IFS="," read -ra GS <<< "$SAML_GROUPS"
for g in "${GS[@]}"; do [ -n "$g" ] && GVALS="$GVALS<saml:AttributeValue>$g</saml:AttributeValue>"; done

WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
# The Signature element follows <saml:Issuer> (schema order) in both Response and Assertion.
cat > "$WORK/t.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="$RID" Version="2.0" IssueInstant="$NOW" Destination="$DESTINATION" InResponseTo="$IRT"><saml:Issuer>$ISSUER</saml:Issuer>$RSIG<samlp:Status><samlp:StatusCode Value="$STATUS"/></samlp:Status><saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="$AID" Version="2.0" IssueInstant="$NOW"><saml:Issuer>$ISSUER</saml:Issuer>$ASIG<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">$NAMEID</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="$AFTER" Recipient="$RECIPIENT" InResponseTo="$IRT"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="$BEFORE" NotOnOrAfter="$AFTER"><saml:AudienceRestriction><saml:Audience>$AUDIENCE</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="$NOW" SessionIndex="_s1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue>$EMAIL</saml:AttributeValue></saml:Attribute><saml:Attribute Name="uid"><saml:AttributeValue>$USERNAME</saml:AttributeValue></saml:Attribute><saml:Attribute Name="groups">$GVALS</saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>
EOF
IDA=(--id-attr:ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion --id-attr:ID urn:oasis:names:tc:SAML:2.0:protocol:Response)
# Inner (assertion) first, then outer (response): the outer digest covers the inner signature.
if [ -n "$ASIG" ]; then
  xmlsec1 --sign "${IDA[@]}" --privkey-pem "$KEYDIR/idp.key,$KEYDIR/idp.crt" --node-id "$AID" --output "$WORK/s.xml" "$WORK/t.xml"
  mv "$WORK/s.xml" "$WORK/t.xml"
fi
if [ -n "$RSIG" ]; then
  xmlsec1 --sign "${IDA[@]}" --privkey-pem "$KEYDIR/idp.key,$KEYDIR/idp.crt" --node-id "$RID" --output "$WORK/s.xml" "$WORK/t.xml"
  mv "$WORK/s.xml" "$WORK/t.xml"
fi
cat "$WORK/t.xml"
