// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* config.h - the daemon's configuration file: every option declared once, in one table
 *
 * DESCRIPTION
 *   "key = value" lines; '#' starts a comment; blank lines are ignored.
 *   Unknown keys and bad values are errors naming the file and line (as
 *   OpenDKIM's configuration does); "tallyd -n" checks a file and
 *   exits. option_table() lists every key with its default and meaning;
 *   tallyd.conf(5) is written from it.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tally::engine {

/* What to do when something fails, per class (OpenDKIM's On-*). */
enum class FailAction { accept, tempfail, reject };

enum class Stage { mail, eom };  // where sender restrictions apply

/* What happens to mail from clients that did not authenticate. */
enum class Unauthenticated {
    pass,          // untouched (relay hosts are still accounted when configured)
    lookup,        // find the sender address's account (sender_search_filter); refuse it when blocked
    refuse_hosted  // refuse senders in hosted_domains: they must authenticate
};

struct Config {
    // daemon and its two front doors
    std::string socket = "inet:8893@127.0.0.1";  // the milter's; "none": no milter
    std::string policy_listen;                   // Postfix policy protocol: inet:ADDRESS:PORT or unix:PATH; empty: off
    int policy_max_connections = 100;            // more are closed at once, with a log line
    int policy_idle_timeout = 330;               // seconds a policy connection may wait for its next request
    int policy_request_timeout = 10;             // seconds a started request has to arrive whole
    std::string metrics_listen;                  // Prometheus /metrics: ADDRESS:PORT; empty: off
    std::string pid_file;
    std::string user;           // drop privileges to this user; empty: stay
    bool foreground = false;
    std::string log_target = "syslog";  // syslog (mail facility) | stderr | /path/to/file
    std::string log_fallback = "stderr";  // without /dev/log: stderr | /path/to/file
    std::string log_level = "info";

    // directory
    std::vector<std::string> ldap_uri = {"ldapi:///"};
    std::string ldap_bind_dn;
    std::string ldap_password_file;
    bool ldap_sasl_external = false;
    bool ldap_starttls = false;
    std::string ldap_ca_file;
    int ldap_connect_timeout_ms = 2000;
    int ldap_timeout_ms = 3000;
    int ldap_pool_size = 8;
    int ldap_failback = 60;  // seconds before connections to a later URI are retired

    // account lookup
    std::string search_base;
    std::string search_filter = "(&(objectClass=inetOrgPerson)(uid=%u))";
    std::vector<std::string> sender_attributes = {"mail", "tallySendAs"};
    std::string alias_search_base;    // empty: no alias search
    std::string alias_search_filter;  // e.g. (&(objectClass=mailAlias)(mailAliasedName=%u))
    std::string alias_attribute = "mail";
    std::string blocked_attribute = "tallyBlocked";
    std::string blocked_text_attribute = "tallyBlockedText";
    std::string status_attribute;              // e.g. mailUserStatus; empty: not used
    std::string status_active_value = "active";
    int cache_size = 10000;
    int cache_ttl = 60;  // seconds: a newly blocked account may send this long

    // unauthenticated mail and relay hosts
    Unauthenticated unauthenticated = Unauthenticated::pass;
    std::string sender_search_filter = "(mail=%s)";
    std::vector<std::string> hosted_domains;
    std::string relay_search_base;  // empty: relay hosts are not accounted
    std::string relay_search_filter = "(&(objectClass=ipHost)(ipHostNumber=%c))";
    std::string relay_network_filter = "(objectClass=ipNetwork)";  // empty: exact addresses only

    // deny lists held in the directory (tallyDenyList entries)
    std::string deny_search_base;  // empty: off
    std::string deny_filter = "(objectClass=tallyDenyList)";

    // hosted domains (recipients elsewhere count as externalRecipients),
    // read from the directory; hosted_domains above belong to the set too
    std::string hosted_domain_search_base;  // empty: external recipients are not counted
    std::string hosted_domain_filter = "(associatedDomain=*)";
    std::string hosted_domain_attribute = "associatedDomain";
    int hosted_domain_ttl = 300;         // seconds a read set is used before it is read again
    int hosted_domain_stale_max = 3600;  // after a failed read, the last good set is used until it is this old

    // exemptions held in the directory (tallyExemptList entries)
    std::string exempt_search_base;  // empty: off
    std::string exempt_filter = "(objectClass=tallyExemptList)";
    bool exempt_null_sender = false;  // bounces (MAIL FROM:<>) are not charged

    // sender restrictions
    Stage stage = Stage::eom;
    std::string detail_delimiter = "+";  // empty: no +detail handling
    bool null_sender_allowed = false;

    // replies (code, enhanced code, text); text placeholders %{...}
    std::string reply_blocked = "554 5.7.1 This account is not allowed to send emails";
    std::string reply_foreign_sender = "553 5.7.1 Sender address <%{sender}> is not owned by %{login}";
    std::string reply_quota = "550 5.7.1 %{adjective} limit of %{limit} %{metric} reached";
    std::string reply_quota_relay = "451 4.7.1 %{adjective} limit of %{limit} %{metric} reached for this host";
    /* an aggregate's (the whole domain's) limit reached, for accounts and relay hosts alike */
    std::string reply_quota_aggregate = "550 5.7.1 %{adjective} limit of %{limit} %{metric} reached for the whole domain";
    std::string reply_denied = "554 5.7.1 Refused by policy: %{what}";
    std::string reply_unauthenticated = "553 5.7.1 Authentication required to send as <%{sender}>";
    std::string reply_tempfail = "451 4.7.1 Service temporarily unavailable, try again later";
    std::string reply_reject = "550 5.7.1 Message refused by policy";
    bool usage_header = false;  // add X-Tally-Usage to accepted messages

    // alerts: once per account per window and period, when a limit is first hit
    std::string alert_mail_to;                         // empty: no mail
    std::string alert_mail_from;                       // empty: sendmail's default
    std::string alert_sendmail = "/usr/sbin/sendmail";  // the local MTA's sendmail(1)
    std::string alert_command;                         // run with /bin/sh -c; empty: none
    int alert_timeout = 30;                            // seconds before a notification is killed

    int charge_id_ttl = 600;  // the overlay's tally-charge-id-ttl: how long cancels of lost charges are worth sending

    // failure policy
    FailAction on_directory_unavailable = FailAction::tempfail;
    FailAction on_unknown_account = FailAction::tempfail;
    FailAction on_charge_error = FailAction::tempfail;
};

struct ConfigError {
    int line = 0;  // 0: not tied to a line
    std::string message;
};

/* parse_config_text - empty on success (out is set); otherwise every error found */
std::vector<ConfigError> parse_config_text(const std::string &text, Config &out);

/* load_config - read and parse a file; errors are "FILE:LINE: message" */
std::optional<Config> load_config(const std::string &path, std::vector<std::string> &errors);

struct OptionInfo {
    std::string name;
    std::string default_value;
    std::string help;
};
/* option_table - every option with its value in c (default: the defaults),
 * for documentation and -h */
std::vector<OptionInfo> option_table(const Config &c = Config{});

}  // namespace tally::engine
