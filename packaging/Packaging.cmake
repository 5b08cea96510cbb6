# SPDX-License-Identifier: OLDAP-2.8
# Copyright 2026 The Tally authors. See LICENSE.
# Debian packages, built by CPack (scripts/package). Included from the
# top-level CMakeLists.txt (its scope: see CMAKE_SKIP_INSTALL_ALL_DEPENDENCY).
#
#
#   tally-slapd   tally.so for the exact slapd it was built against, the schema,
#                 the example slapd.conf, cn=config LDIFs, ACLs (both forms) and
#                 directory, slapo-tally(5)
#   tallyd        tallyd, its default configuration (a conffile), the
#                 systemd unit, the system user tallyd, the man pages
#   tally-tools   tallyctl
#
# Paths follow Debian (slapd's modules in /usr/lib/ldap, its schemas in
# /etc/ldap/schema), so destinations are relative to "/" and the packages
# are rooted there. The milter's maintainer scripts, unit and configuration
# live beside this file in tallyd/, tally-slapd's prerm (it refuses
# removal while slapd's configuration loads tally.so) in tally-slapd/.

set(TALLY_PKG_DIR ${CMAKE_CURRENT_LIST_DIR})
set(TALLY_MAN_DIR ${PROJECT_SOURCE_DIR}/man)

# tally_install_man - install a man page gzip-compressed (Debian policy 12.1)
function(tally_install_man page component)
  get_filename_component(name ${page} NAME)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${name})
  set(dir "usr/share/man/man${section}")
  install(CODE "
    set(dest \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${dir}\")
    file(MAKE_DIRECTORY \"\${dest}\")
    execute_process(COMMAND gzip -9 -n -c \"${page}\" OUTPUT_FILE \"\${dest}/${name}.gz\"
                    RESULT_VARIABLE rc)
    if(rc)
      message(FATAL_ERROR \"gzip ${page} failed\")
    endif()" COMPONENT ${component})
endfunction()

# ---- tally-slapd ----
if(TARGET tally_overlay)
  install(TARGETS tally_overlay LIBRARY DESTINATION usr/lib/ldap COMPONENT slapd)
  install(FILES ${PROJECT_SOURCE_DIR}/schema/tally.schema ${PROJECT_SOURCE_DIR}/schema/tally.ldif
          DESTINATION usr/share/tally/schema COMPONENT slapd)
  # Beside Debian's own schemas, for "include /etc/ldap/schema/tally.schema"
  # and "ldapadd -f /etc/ldap/schema/tally.ldif"; the files stay the package's.
  foreach(f tally.schema tally.ldif)
    install(CODE "
      file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/etc/ldap/schema\")
      file(CREATE_LINK /usr/share/tally/schema/${f}
           \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/etc/ldap/schema/${f}\" SYMBOLIC)" COMPONENT slapd)
  endforeach()
  install(FILES ${PROJECT_SOURCE_DIR}/slapd-conf/slapd.conf ${PROJECT_SOURCE_DIR}/slapd-conf/tally-acl.conf
                ${PROJECT_SOURCE_DIR}/slapd-conf/tally-acl.ldif ${PROJECT_SOURCE_DIR}/slapd-conf/tally-module.ldif
                ${PROJECT_SOURCE_DIR}/slapd-conf/tally-overlay.ldif
                ${PROJECT_SOURCE_DIR}/slapd-conf/tally-directory-example.ldif
          DESTINATION usr/share/doc/tally-slapd/examples COMPONENT slapd)
  tally_install_man(${TALLY_MAN_DIR}/slapo-tally.5 slapd)
endif()

# ---- tallyd ----
install(TARGETS tallyd RUNTIME DESTINATION usr/sbin COMPONENT milter)
install(FILES ${TALLY_PKG_DIR}/tallyd/tallyd.conf DESTINATION etc/tallyd COMPONENT milter)
install(FILES ${TALLY_PKG_DIR}/tallyd/tallyd.service DESTINATION lib/systemd/system COMPONENT milter)
install(FILES ${PROJECT_SOURCE_DIR}/daemon/tallyd.conf ${PROJECT_SOURCE_DIR}/exim/tally-exim.conf
        DESTINATION usr/share/doc/tallyd/examples COMPONENT milter)
tally_install_man(${TALLY_MAN_DIR}/tallyd.8 milter)
tally_install_man(${TALLY_MAN_DIR}/tallyd.conf.5 milter)

# ---- tally-tools ----
install(TARGETS tallyctl RUNTIME DESTINATION usr/bin COMPONENT tools)
tally_install_man(${TALLY_MAN_DIR}/tallyctl.1 tools)

# ---- every package: the machine-readable copyright file (Debian policy 12.5) ----
foreach(pair slapd:tally-slapd milter:tallyd tools:tally-tools)
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 component)
  list(GET pair 1 package)
  install(FILES ${TALLY_PKG_DIR}/copyright DESTINATION usr/share/doc/${package} COMPONENT ${component})
endforeach()

# ---- CPack ----
# cpack installs what is built and does not first build everything (unit
# tests, benchmarks): scripts/package builds the packaged targets itself.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tally)
set(CPACK_PACKAGE_VENDOR "Tally")
set(CPACK_PACKAGE_CONTACT "Tally maintainers <tally@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL milter tools)
if(TARGET tally_overlay)
  list(PREPEND CPACK_COMPONENTS_ALL slapd)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SOURCE tally)
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

set(CPACK_DEBIAN_SLAPD_PACKAGE_NAME tally-slapd)
set(CPACK_DEBIAN_SLAPD_PACKAGE_SECTION net)
# The module refuses to load into any other slapd version (tally_module.cpp).
set(CPACK_DEBIAN_SLAPD_PACKAGE_DEPENDS "slapd (= ${TALLY_SLAPD_VERSION})")
set(CPACK_DEBIAN_SLAPD_PACKAGE_SUGGESTS "tally-tools, tallyd")
set(CPACK_DEBIAN_SLAPD_PACKAGE_CONTROL_EXTRA "${TALLY_PKG_DIR}/tally-slapd/prerm")
set(CPACK_COMPONENT_SLAPD_DESCRIPTION "per-account mail quotas kept in LDAP: slapd overlay
slapo-tally keeps per-account mail counters (messages, recipients, bytes)
as operational attributes in slapd's own database and answers an atomic
check-and-charge extended operation for tallyd. Contains
tally.so for slapd ${TALLY_SLAPD_VERSION} only, the schema
(/etc/ldap/schema/tally.schema, tally.ldif) and example configuration.")

set(CPACK_DEBIAN_MILTER_PACKAGE_NAME tallyd)
set(CPACK_DEBIAN_MILTER_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_MILTER_PACKAGE_RECOMMENDS "tally-tools")
set(CPACK_DEBIAN_MILTER_PACKAGE_SUGGESTS "postfix | exim4, tally-slapd")
# tallyd was the package tallyd before it spoke the policy protocol too.
set(CPACK_DEBIAN_MILTER_PACKAGE_CONFLICTS "tallyd")
set(CPACK_DEBIAN_MILTER_PACKAGE_REPLACES "tallyd")
set(CPACK_DEBIAN_MILTER_PACKAGE_CONTROL_EXTRA
    "${TALLY_PKG_DIR}/tallyd/postinst;${TALLY_PKG_DIR}/tallyd/prerm;${TALLY_PKG_DIR}/tallyd/postrm;${TALLY_PKG_DIR}/tallyd/conffiles")
set(CPACK_COMPONENT_MILTER_DESCRIPTION "per-account mail quotas kept in LDAP: milter and policy service
tallyd finds the account of a SASL login in the directory, applies
sender restrictions and charges each message through slapo-tally's charge
operation, answering accept, 550 or 451. Postfix reaches it as a milter or
through check_policy_service, Exim through readsocket (example ACLs
included). Runs as the system user tallyd under systemd (tallyd.service).")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME tally-tools)
set(CPACK_COMPONENT_TOOLS_DESCRIPTION "per-account mail quotas kept in LDAP: tallyctl
tallyctl shows usage and reports, charges and resets Tally counters and
answers what tallyd would do with a message.")

include(CPack)
