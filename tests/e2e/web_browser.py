#!/usr/bin/python3
# SPDX-License-Identifier: OLDAP-2.8
# Copyright 2026 The Tally authors. See LICENSE.
"""web_browser.py - the web console in a real browser (Debian's chromium, headless, through chromedriver)

Starts the sandbox (slapd with the overlay and the demo directory, tallyd,
Postfix with SASL, tally-web), drives chromium through the pages as a user,
a domain administrator and the operator, sends real mail through Postfix
after each change the administrator makes (the next charge reflects it),
keeps a screenshot of every page in SHOTS, and stops the sandbox even when
a step fails.

  web_browser.py SANDBOX-BINARY SHOTS-DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

IDLE = 25  # the console's session idle timeout in this test (seconds)


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print("ok -", what, flush=True)


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            m = re.match(r'^([A-Z_]+)=(.*)$', line.strip())
            if m:
                env[m.group(1)] = m.group(2).strip('"')
    return env


class Run:
    def __init__(self, sandbox, shots):
        self.sandbox, self.shots = sandbox, shots
        self.dir = tempfile.mkdtemp(prefix="tally-web-e2e-")
        self.driver = None
        self.n = 0

    def start(self):
        env = dict(os.environ, TALLY_SANDBOX_WEB_IDLE=str(IDLE))
        subprocess.run([self.sandbox, "start", self.dir], check=True, env=env, stdout=subprocess.DEVNULL)
        self.env = read_env(os.path.join(self.dir, "env.sh"))
        self.url = self.env["TALLY_WEB_URL"].rstrip("/")
        opts = Options()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1200,1000", "--user-data-dir=" + os.path.join(self.dir, "chrome")):
            opts.add_argument(a)
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        self.driver.set_page_load_timeout(30)

    def stop(self):
        if self.driver:
            try:
                self.driver.quit()
            except Exception:
                pass
        subprocess.run([self.sandbox, "stop", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- browser helpers
    def go(self, path):
        self.driver.get(self.url + path)

    def shot(self, name):
        self.n += 1
        path = os.path.join(self.shots, "%02d-%s.png" % (self.n, name))
        self.driver.save_screenshot(path)

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    def click(self, element):
        """click what leads to another page, and wait until that page replaced this one.

        The old page is told apart by a mark on its window: a new document gets a
        new window object without it. The wait does not ask an element of the old
        page whether it is stale: in the middle of a navigation chromedriver can
        answer that question with another error ("cannot find context"), which
        failed a CI run. Any WebDriver error during the wait means "not yet"."""
        self.driver.execute_script("window.__tallyOldPage = true;")
        element.click()
        WebDriverWait(self.driver, 30, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script(
                "return !window.__tallyOldPage && document.readyState === 'complete';"))

    def find(self, how, what):
        return self.driver.find_element(how, what)

    def login(self, login, password):
        self.go("/login")
        self.driver.find_element(By.NAME, "login").send_keys(login)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.click(self.driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button"))

    def logout(self):
        self.click(self.driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button"))

    def send(self, login, sender):
        r = subprocess.run([self.sandbox, "send", self.dir, login, sender, "friend@elsewhere.org", "500"],
                           capture_output=True, text=True)
        return r.stdout.strip()


def scenario(r):
    oliver = "uid=oliver,ou=example.org,dc=example,dc=com"
    # --- wrong password
    r.login("alice", "wrong")
    check("Wrong login or password" in r.text(), "a wrong password is refused")
    r.shot("login-refused")
    # --- filter metacharacters in the login: a clear answer
    r.login("*)(uid=*", "secret")
    check("Wrong login or password" in r.text(), "a login with filter metacharacters matches nobody")

    # --- a user
    check(r.send("alice", "alice@example.com").startswith("250"), "alice sends a message")
    r.login("alice", "secret")
    check("My usage" in r.text() and "uid=alice" in r.text(), "alice sees her usage page")
    check(r.driver.find_elements(By.CSS_SELECTOR, "svg.chart"), "with a chart of the periods")
    r.shot("user-my-usage")
    r.go("/account?dn=uid%3Dbob%2Cou%3Dpeople%2Cdc%3Dexample%2Cdc%3Dcom")
    check("Not yours" in r.text(), "alice cannot open bob's account by URL")
    r.shot("user-other-account-refused")
    r.go("/domain?d=ou%3Dexample.org%2Cdc%3Dexample%2Cdc%3Dcom")
    check("Not yours" in r.text(), "nor a domain")
    r.go("/me")
    r.logout()
    check("Log in" in r.text(), "logout goes to the login page")

    # --- a domain administrator
    r.login("orgadmin", "secret")
    links = [a.text for a in r.driver.find_elements(By.CSS_SELECTOR, "header a")]
    check(any("example.org" in t for t in links) and not any("ou=people" in t for t in links),
          "orgadmin administers example.org only")
    r.click(r.driver.find_element(By.PARTIAL_LINK_TEXT, "Domain"))
    body = r.text()
    check("oliver" in body and "olga" in body and "alice" not in body, "the domain page lists example.org's accounts only")
    r.shot("domain-admin-domain")
    r.go("/domain?d=ou%3Dpeople%2Cdc%3Dexample%2Cdc%3Dcom")
    check("Not yours" in r.text(), "another domain is refused")
    # the account page: a limit
    r.go("/domain?d=ou%3Dexample.org%2Cdc%3Dexample%2Cdc%3Dcom")
    r.click(r.driver.find_element(By.LINK_TEXT, "oliver"))
    check("Account oliver" in r.text(), "oliver's account page")
    r.shot("domain-admin-account")
    check(r.send("oliver", "oliver@example.org").startswith("250"), "oliver sends (1 today)")
    field = r.driver.find_element(By.NAME, "limit.tallyMessagesPerDay")
    field.clear()
    field.send_keys("1")
    r.click(r.driver.find_element(By.NAME, "save"))
    check("done" in r.text(), "the limit is saved")
    r.shot("domain-admin-limit-saved")
    check(r.send("oliver", "oliver@example.org").startswith("550"), "the next message is refused by the new limit")
    field = r.driver.find_element(By.NAME, "limit.tallyMessagesPerDay")
    field.clear()
    field.send_keys("lots")
    r.click(r.driver.find_element(By.NAME, "save"))
    check("not a whole number" in r.text(), "a malformed limit is refused before slapd sees it")
    # reset
    Select(r.driver.find_element(By.NAME, "window")).select_by_visible_text("every window")
    r.click(r.driver.find_element(By.CSS_SELECTOR, "form[action='/account/reset'] button"))
    check("reset every window: done" in r.text(), "the counters are reset")
    check(r.send("oliver", "oliver@example.org").startswith("250"), "after the reset the next message passes")
    # block and unblock
    r.driver.find_element(By.NAME, "text").send_keys("Blocked by the postmaster: spam run")
    r.click(r.driver.find_element(By.CSS_SELECTOR, "button[value='block']"))
    check("Blocked: Blocked by the postmaster" in r.text(), "oliver is blocked")
    r.shot("domain-admin-blocked")
    check(r.send("oliver", "oliver@example.org").startswith("554"), "a blocked account's mail is refused")
    r.click(r.driver.find_element(By.CSS_SELECTOR, "button[value='unblock']"))
    check("unblock: done" in r.text(), "oliver is unblocked")
    field = r.driver.find_element(By.NAME, "limit.tallyMessagesPerDay")
    field.clear()
    r.click(r.driver.find_element(By.NAME, "save"))
    check(r.send("oliver", "oliver@example.org").startswith("250"), "unblocked and back to inherited limits: mail passes")
    # a forged POST without the token: a form on another origin can't get the cookie
    # (SameSite=Strict); one on this page without the csrf field is refused
    r.driver.execute_cdp_cmd("Runtime.evaluate", {"expression": """
        var f = document.createElement('form'); f.method = 'post'; f.action = '/account/block';
        var i = document.createElement('input'); i.name = 'dn'; i.value = '%s'; f.appendChild(i);
        var a = document.createElement('input'); a.name = 'action'; a.value = 'block'; f.appendChild(a);
        document.body.appendChild(f); setTimeout(function () { f.submit(); }, 100);""" % oliver})
    WebDriverWait(r.driver, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda d: "Refused" in d.find_element(By.TAG_NAME, "body").text)
    check("Refused" in r.text() and "Nothing was changed" in r.text(), "a POST without the token is refused")
    r.shot("forged-post-refused")
    check(r.send("oliver", "oliver@example.org").startswith("250"), "and oliver was not blocked by it")
    r.go("/me")
    r.logout()

    # --- the operator
    r.login("operator", "secret")
    r.go("/operator")
    body = r.text()
    check("ou=people,dc=example,dc=com" in body and "ou=example.org,dc=example,dc=com" in body,
          "the operator sees every domain")
    check("charges accepted" in body, "and the overlay's cn=Monitor counters")
    r.shot("operator")
    r.go("/domain?d=ou%3Dpeople%2Cdc%3Dexample%2Cdc%3Dcom")
    check("tina" in r.text(), "the operator opens example.com's domain page")
    r.shot("operator-domain")
    r.go("/policies")
    check("premium" in r.text() and "standard" in r.text(), "the policies page")
    r.shot("policies")

    # --- an expired session goes back to the login page
    time.sleep(IDLE + 2)
    r.go("/me")
    check("Your session ended" in r.text(), "an idle session ends and goes back to the login page")
    r.shot("session-expired")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    sandbox, shots = sys.argv[1], sys.argv[2]
    os.makedirs(shots, exist_ok=True)
    for f in os.listdir(shots):
        if f.endswith(".png"):
            os.remove(os.path.join(shots, f))
    r = Run(sandbox, shots)
    try:
        r.start()
        scenario(r)
        print("web console in a browser: all checks passed; screenshots in", shots)
        return 0
    except Exception as e:
        traceback.print_exc()
        try:
            r.shot("failure")
            print(r.text()[:2000])
        except Exception:
            pass
        print("FAILED:", e, file=sys.stderr)
        return 1
    finally:
        r.stop()


if __name__ == "__main__":
    sys.exit(main())
