// SPDX-License-Identifier: OLDAP-2.8
// Copyright 2026 The Tally authors. See LICENSE.
/* miltertest_drive.h - messages through a running tallyd with Debian's miltertest
 *
 * DESCRIPTION
 *   drive() writes a Lua script sending each message on its own
 *   connection (MAIL FROM with {auth_authen}, recipients, a header, a
 *   body, end of data) and returns each message's "STAGE REPLY". Shared by
 *   the milter and metrics integration tests.
 */
#pragma once

#include "milter_process.h"
#include "slapd_fixture.h"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tally::test {

struct Msg {
    std::string login;
    std::string from;
    std::vector<std::string> rcpts;
    std::string qid;
    Msg(std::string l, std::string f, std::vector<std::string> r = {"<someone@elsewhere.org>"}, std::string q = "")
        : login(std::move(l)), from(std::move(f)), rcpts(std::move(r)), qid(std::move(q)) {}
};

inline std::string lua_quote(const std::string &s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\%03d", c);
        out += buf;
    }
    return out + "\"";
}

/* drive - one SMTP connection per message through miltertest; returns
 * "STAGE REPLY" per message: "mail accept", "eom continue", "eom replycode" */
inline std::vector<std::string> drive(const MilterProcess &m, const std::vector<Msg> &msgs) {
    std::ostringstream lua;
    lua << "local names = {[SMFIR_ACCEPT]='accept', [SMFIR_CONTINUE]='continue', [SMFIR_REJECT]='reject',"
           " [SMFIR_TEMPFAIL]='tempfail', [SMFIR_REPLYCODE]='replycode'}\n"
           "local function send(login, from, rcpts, qid)\n"
           "  local conn = mt.connect('"
        << m.socket()
        << "', 40, 0.05)\n"
           "  if conn == nil then error('cannot connect to the milter') end\n"
           "  if mt.conninfo(conn, 'localhost', '127.0.0.1') ~= nil then error('conninfo') end\n"
           "  if mt.getreply(conn) ~= SMFIR_CONTINUE then error('connect refused') end\n"
           "  if login ~= '' then mt.macro(conn, SMFIC_MAIL, '{auth_authen}', login) end\n"
           "  if mt.mailfrom(conn, from) ~= nil then error('mailfrom') end\n"
           "  local r = mt.getreply(conn)\n"
           "  if r ~= SMFIR_CONTINUE then mt.disconnect(conn); return 'mail ' .. (names[r] or r) end\n"
           "  for i, rc in ipairs(rcpts) do\n"
           "    mt.macro(conn, SMFIC_RCPT, 'i', qid)\n"
           "    if mt.rcptto(conn, rc) ~= nil then error('rcptto') end\n"
           "    if mt.getreply(conn) ~= SMFIR_CONTINUE then error('rcpt refused') end\n"
           "  end\n"
           "  mt.header(conn, 'Subject', 'test'); mt.getreply(conn)\n"
           "  mt.eoh(conn); mt.getreply(conn)\n"
           "  mt.bodystring(conn, 'hello world\\r\\n'); mt.getreply(conn)\n"
           "  if mt.eom(conn) ~= nil then error('eom') end\n"
           "  r = mt.getreply(conn)\n"
           "  mt.disconnect(conn)\n"
           "  return 'eom ' .. (names[r] or r)\n"
           "end\n";
    for (const Msg &msg : msgs) {
        lua << "mt.echo('RESULT ' .. send(" << lua_quote(msg.login) << ", " << lua_quote(msg.from) << ", {";
        for (const auto &r : msg.rcpts) lua << lua_quote(r) << ",";
        lua << "}, " << lua_quote(msg.qid.empty() ? "Q" + std::to_string(&msg - msgs.data()) : msg.qid) << "))\n";
    }
    std::string script = m.dir() + "/test.lua";
    std::ofstream(script) << lua.str();
    std::string out_path = m.dir() + "/miltertest.out";
    std::remove(out_path.c_str());
    int rc = run_command({"/usr/bin/miltertest", "-s", script}, out_path);
    std::string out = read_text(out_path);
    INFO("miltertest output:\n" << out << "\nmilter log:\n" << m.log());
    REQUIRE(rc == 0);
    std::vector<std::string> results;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("RESULT ", 0) == 0) results.push_back(line.substr(7));
    REQUIRE(results.size() == msgs.size());
    return results;
}

}  // namespace tally::test
