// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* ldap_client.h - a libldap connection and the Tally extended operations,
 * shared by tallyctl, the milter, tests and benchmarks
 */
#pragma once

#include "exop.h"

#include <ldap.h>

#include <memory>
#include <optional>
#include <string>

namespace tally::client {

struct ConnectOptions {
    std::string uri = "ldapi:///";
    std::string bind_dn;          // empty with !sasl_external: anonymous
    std::string password;
    bool sasl_external = false;   // SASL EXTERNAL (ldapi:// peer credentials, or a TLS client certificate)
    bool start_tls = false;       // on ldap:// URIs
    std::string ca_file;          // empty: libldap's (ldap.conf, LDAPTLS_CACERT); verified always
    int network_timeout_ms = 2000;
    int operation_timeout_ms = 5000;
};

/* read_password_file - the first line of a file, without the newline */
std::optional<std::string> read_password_file(const std::string &path, std::string *error);

class Connection {
public:
    /* open - connect and bind; nullptr with *error set on failure, and
     * *bind_refused set when a server answered but refused the bind (wrong
     * password, unknown identity): a failure no retry will cure */
    static std::unique_ptr<Connection> open(const ConnectOptions &o, std::string *error,
                                            bool *bind_refused = nullptr);
    ~Connection();
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;
    LDAP *handle() const { return ld_; }
    int operation_timeout_ms() const { return op_timeout_ms_; }

private:
    explicit Connection(LDAP *ld, int op_timeout_ms) : ld_(ld), op_timeout_ms_(op_timeout_ms) {}
    LDAP *ld_;
    int op_timeout_ms_;
};

/* transport_failure - the result codes that mean the server is gone, hung or
 * not serving (restarted, idle connection dropped, shutting down, busy):
 * the connection is discarded and another server or a fresh connection may
 * answer. Everything else is the server's answer. */
bool transport_failure(int code);

/* LdapResult - the outcome of one operation */
struct LdapResult {
    int code = LDAP_OTHER;
    std::string text;  // diagnostic message, or the client library's error
    bool ok() const { return code == LDAP_SUCCESS; }
    bool transport_error() const { return transport_failure(code); }
    /* describe - "No such object: <diagnostic>" for messages */
    std::string describe() const;
};

/* Result of one extended operation: the LDAP result and the response value. */
struct ExopResult : LdapResult {
    std::optional<std::string> value;
    std::string referral;    // first referral URL, when code is LDAP_REFERRAL
};

ExopResult extended(Connection &c, const char *oid, const std::string &value);

struct ChargeOutcome {
    ExopResult ldap;
    ChargeResponse response;  // valid when ldap.code == LDAP_SUCCESS
};

ChargeOutcome charge(Connection &c, const ChargeRequest &req);

/* whoami - the authorization identity the server sees on c (RFC 4532):
 * "dn:...", "u:...", or "" for anonymous; nullopt when it does not say */
std::optional<std::string> whoami(Connection &c);
ExopResult reset(Connection &c, const ResetRequest &req);

}  // namespace tally::client
