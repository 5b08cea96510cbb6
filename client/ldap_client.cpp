// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* ldap_client.cpp - connection set-up and the extended operations over libldap */
#include "ldap_client.h"

#include <fstream>

namespace tally::client {

std::optional<std::string> read_password_file(const std::string &path, std::string *error) {
    std::ifstream in(path);
    if (!in) {
        if (error) *error = "cannot read password file " + path;
        return std::nullopt;
    }
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

bool transport_failure(int code) {
    return code == LDAP_SERVER_DOWN || code == LDAP_TIMEOUT || code == LDAP_CONNECT_ERROR || code == LDAP_UNAVAILABLE ||
           code == LDAP_BUSY || code == LDAP_LOCAL_ERROR;
}

std::string LdapResult::describe() const {
    std::string s = ldap_err2string(code);
    if (!text.empty() && text != s) s += ": " + text;
    return s;
}

std::unique_ptr<Connection> Connection::open(const ConnectOptions &o, std::string *error, bool *bind_refused) {
    LDAP *ld = nullptr;
    if (bind_refused) *bind_refused = false;
    auto fail = [&](const std::string &what, int rc) -> std::unique_ptr<Connection> {
        if (error) *error = what + ": " + ldap_err2string(rc) + " (" + o.uri + ")";
        if (ld) ldap_unbind_ext_s(ld, nullptr, nullptr);
        return nullptr;
    };
    int rc = ldap_initialize(&ld, o.uri.c_str());
    if (rc != LDAP_SUCCESS) return fail("bad LDAP URI", rc);
    int version = LDAP_VERSION3;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    struct timeval nt = {o.network_timeout_ms / 1000, (o.network_timeout_ms % 1000) * 1000};
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &nt);
    struct timeval ot = {o.operation_timeout_ms / 1000, (o.operation_timeout_ms % 1000) * 1000};
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &ot);
    // Certificates are always verified, whatever ldap.conf says.
    int hard = LDAP_OPT_X_TLS_HARD;
    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &hard);
    if (!o.ca_file.empty()) ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, o.ca_file.c_str());
    int zero = 0;
    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
    // StartTLS only where it means something: ldaps:// is TLS already, ldapi:// is local.
    if (o.start_tls && o.uri.rfind("ldap://", 0) == 0 && (rc = ldap_start_tls_s(ld, nullptr, nullptr)) != LDAP_SUCCESS)
        return fail("StartTLS failed", rc);
    if (o.sasl_external) {
        // An empty initial response (not an absent one): "use the identity
        // the transport established", in a single round trip.
        struct berval empty = {0, const_cast<char *>("")};
        rc = ldap_sasl_bind_s(ld, nullptr, "EXTERNAL", &empty, nullptr, nullptr, nullptr);
        if (rc != LDAP_SUCCESS) {
            if (bind_refused) *bind_refused = !transport_failure(rc);
            return fail("SASL EXTERNAL bind failed", rc);
        }
    } else {
        struct berval cred = {o.password.size(), const_cast<char *>(o.password.data())};
        rc = ldap_sasl_bind_s(ld, o.bind_dn.empty() ? nullptr : o.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred,
                              nullptr, nullptr, nullptr);
        if (rc != LDAP_SUCCESS) {
            if (bind_refused) *bind_refused = !transport_failure(rc);
            return fail("bind as \"" + o.bind_dn + "\" failed", rc);
        }
    }
    // One read(2) per answer instead of two: liblber reads a message's tag
    // and length, then its body, each straight from the socket unless a
    // read-ahead buffer sits above it (libldap gives one to UDP only). Not
    // under TLS, whose layer reads whole records itself.
    const bool plain = o.uri.rfind("ldapi://", 0) == 0 || (o.uri.rfind("ldap://", 0) == 0 && !o.start_tls);
    Sockbuf *sb = nullptr;
    if (plain && ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb)
        ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_PROVIDER, nullptr);
    return std::unique_ptr<Connection>(new Connection(ld, o.operation_timeout_ms));
}

Connection::~Connection() {
    if (ld_) ldap_unbind_ext_s(ld_, nullptr, nullptr);
}

ExopResult extended(Connection &c, const char *oid, const std::string &value) {
    ExopResult r;
    struct berval data = {value.size(), const_cast<char *>(value.data())};
    int msgid = 0;
    int rc = ldap_extended_operation(c.handle(), oid, &data, nullptr, nullptr, &msgid);
    if (rc != LDAP_SUCCESS) {
        r.code = rc;
        r.text = ldap_err2string(rc);
        return r;
    }
    int ms = c.operation_timeout_ms();
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    LDAPMessage *res = nullptr;
    rc = ldap_result(c.handle(), msgid, LDAP_MSG_ALL, &tv, &res);
    if (rc == 0) {
        ldap_abandon_ext(c.handle(), msgid, nullptr, nullptr);
        r.code = LDAP_TIMEOUT;
        r.text = "no answer within " + std::to_string(ms) + " ms";
        return r;
    }
    if (rc < 0) {
        ldap_get_option(c.handle(), LDAP_OPT_RESULT_CODE, &r.code);
        r.text = ldap_err2string(r.code);
        return r;
    }
    int code = LDAP_OTHER;
    char *text = nullptr, **refs = nullptr;
    rc = ldap_parse_result(c.handle(), res, &code, nullptr, &text, &refs, nullptr, 0);
    if (rc == LDAP_SUCCESS) {
        r.code = code;
        if (text) r.text = text;
        if (refs && refs[0]) r.referral = refs[0];
        struct berval *rdata = nullptr;
        char *roid = nullptr;
        if (ldap_parse_extended_result(c.handle(), res, &roid, &rdata, 0) == LDAP_SUCCESS && rdata)
            r.value = std::string(rdata->bv_val, rdata->bv_len);
        if (rdata) ber_bvfree(rdata);
        if (roid) ldap_memfree(roid);
    } else {
        r.code = rc;
        r.text = ldap_err2string(rc);
    }
    if (text) ldap_memfree(text);
    if (refs) ldap_memvfree(reinterpret_cast<void **>(refs));
    ldap_msgfree(res);
    return r;
}

ChargeOutcome charge(Connection &c, const ChargeRequest &req) {
    ChargeOutcome out;
    out.ldap = extended(c, kChargeOid, encode_charge_request(req));
    if (out.ldap.code != LDAP_SUCCESS) return out;
    if (!out.ldap.value) {
        out.ldap.code = LDAP_DECODING_ERROR;
        out.ldap.text = "charge response without a value";
    } else if (auto err = decode_charge_response(*out.ldap.value, out.response)) {
        out.ldap.code = LDAP_DECODING_ERROR;
        out.ldap.text = "malformed charge response: " + *err;
    }
    return out;
}

std::optional<std::string> whoami(Connection &c) {
    // ldap_whoami_s, not extended(): the request must carry no value at all
    struct berval *authzid = nullptr;
    if (ldap_whoami_s(c.handle(), &authzid, nullptr, nullptr) != LDAP_SUCCESS) return std::nullopt;
    std::string id = authzid && authzid->bv_val ? std::string(authzid->bv_val, authzid->bv_len) : "";
    if (authzid) ber_bvfree(authzid);
    return id;
}

ExopResult reset(Connection &c, const ResetRequest &req) {
    return extended(c, kResetOid, encode_reset_request(req));
}

}  // namespace tally::client
