"""Real-world SMTP replies, each with where it is documented and the verdict it must get.

The texts are those the providers and MTAs document (or print by default) for the situation named;
addresses and IPs are replaced by `x@example.com`, `probe@verify.example` (our MAIL FROM) and
`192.0.2.1` (our client). `stage` is the command the reply answers: `rcpt` (what `classify_rcpt`
reads) or `session` (a greeting or MAIL FROM refusal, what `classify_session` reads). A reply of
several lines is written as the server sends it; `text_of` joins it the way the prober does.

A `mailbox_not_found` verdict here is the reply's meaning; the prober keeps it only when the same
session showed the server tells mailboxes apart (tested in test_engine_evidence.py).
"""

from __future__ import annotations

from dataclasses import dataclass

SENDER = "probe@verify.example"

GOOGLE = "Google, Gmail SMTP errors and codes: https://support.google.com/a/answer/3726730"
MS_NDR = (
    "Microsoft Learn, Email non-delivery reports and SMTP errors in Exchange Online: "
    "https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/"
    "non-delivery-reports-in-exchange-online/non-delivery-reports-in-exchange-online"
)
MS_5_1_10 = (
    "Microsoft Learn, Fix NDR error code 5.1.10 in Exchange Online: https://learn.microsoft.com/"
    "en-us/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online/"
    "fix-error-code-5-1-10-in-exchange-online"
)
MS_5_4_1 = (
    "Microsoft Learn, Fix NDR error 550 5.4.1 in Exchange Online (Directory-Based Edge Blocking): "
    "https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/"
    "non-delivery-reports-in-exchange-online/fix-error-code-550-5-4-1-in-exchange-online"
)
MS_5_7_606 = (
    "Microsoft Learn, Fix NDR error 5.7.606-649 in Exchange Online: https://learn.microsoft.com/"
    "en-us/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online/"
    "fix-error-code-5-7-606-through-5-7-649-in-exchange-online"
)
OUTLOOK_COM = (
    "Outlook.com Postmaster, troubleshooting (SC-001, OU-001, S3150, 4.7.650): "
    "https://sendersupport.olc.protection.outlook.com/pm/troubleshooting.aspx"
)
YAHOO = "Yahoo Sender Hub, SMTP error codes: https://senders.yahooinc.com/smtp-error-codes/"
AOL = "AOL Postmaster (legacy) error codes, now Yahoo Sender Hub: https://senders.yahooinc.com/"
APPLE = "Apple, Postmaster information for iCloud Mail: https://support.apple.com/en-us/102322"
ZOHO = "Zoho Mail Help, SMTP error codes: https://www.zoho.com/mail/help/"
GMX = "GMX Postmaster, error messages: https://postmaster.gmx.net/en/error-messages"
MIMECAST = (
    "Mimecast, SMTP error codes (the DOC-1369 page its replies link to): "
    "https://community.mimecast.com/docs/DOC-1369"
)
PROOFPOINT = (
    "Proofpoint, IP reputation lookup its rejections link to: https://ipcheck.proofpoint.com/ "
    "and Proofpoint Essentials SMTP error codes (help.proofpoint.com)"
)
BARRACUDA = (
    "Barracuda Campus, Email Security Gateway SMTP reply codes and Barracuda Reputation: "
    "https://campus.barracuda.com/product/emailsecuritygateway/"
)
POSTFIX_LOCAL = (
    "Postfix, LOCAL_RECIPIENT_README: https://www.postfix.org/LOCAL_RECIPIENT_README.html"
)
POSTFIX_VIRTUAL = (
    "Postfix, VIRTUAL_README and postconf(5): https://www.postfix.org/VIRTUAL_README.html"
)
POSTFIX_RELAY = (
    "Postfix, postconf(5) relay_recipient_maps: https://www.postfix.org/postconf.5.html"
    "#relay_recipient_maps"
)
POSTFIX_SENDER = (
    "Postfix, postconf(5) smtpd_delay_reject, reject_unknown_sender_domain, "
    "reject_unlisted_sender, reject_sender_login_mismatch: https://www.postfix.org/postconf.5.html"
)
POSTFIX_VERIFY = (
    "Postfix, ADDRESS_VERIFICATION_README (reject_unverified_sender/recipient): "
    "https://www.postfix.org/ADDRESS_VERIFICATION_README.html"
)
POSTFIX_ACCESS = "Postfix, access(5) and SMTPD_ACCESS_README: https://www.postfix.org/access.5.html"
POSTFIX_RBL = (
    "Postfix, postconf(5) reject_rbl_client and default_rbl_reply: "
    "https://www.postfix.org/postconf.5.html#default_rbl_reply"
)
POSTFIX_CLIENT = (
    "Postfix, postconf(5) reject_unknown_reverse_client_hostname, "
    "reject_non_fqdn_helo_hostname, relay access: https://www.postfix.org/postconf.5.html"
)
POSTGREY = "postgrey(8), default greylist text: https://postgrey.schweikert.ch/"
EXIM_ACL = (
    "Exim specification, Access control lists (default messages, dnslists): "
    "https://www.exim.org/exim-html-current/doc/html/spec_html/ch-access_control_lists.html"
)
EXIM_CALLOUT = (
    "Exim specification, Access control lists, callout verification (SECTcallver): "
    "https://www.exim.org/exim-html-current/doc/html/spec_html/ch-access_control_lists.html"
)
EXIM_ROUTING = (
    "Exim specification, Address verification / routing failures (Unrouteable address): "
    "https://www.exim.org/exim-html-current/doc/html/spec_html/ch-the_default_configuration_file.html"
)
SENDMAIL = (
    "sendmail, cf/README and anti-spam features (Relaying denied, Domain of sender address, "
    "access db REJECT, dnsbl): https://www.sendmail.org/~ca/email/doc8.12/cf/m4/anti_spam.html"
)
DOVECOT = (
    "Dovecot, quota plugin quota_exceeded_message and quota_full_tempfail: "
    "https://doc.dovecot.org/settings/plugin/quota-plugin/"
)
DOVECOT_LMTP = (
    "Dovecot, LMTP server: https://doc.dovecot.org/configuration_manual/protocols/lmtp_server/"
)
QMAIL = "qmail-smtpd(8), rcpthosts: https://cr.yp.to/qmail/qmail-smtpd.html"
IRONPORT = (
    "Cisco Secure Email (IronPort) AsyncOS user guide, LDAP accept query default bounce "
    "'550 #5.1.0 Address rejected': https://www.cisco.com/c/en/us/support/security/"
    "email-security-appliance/products-user-guide-list.html"
)
MESSAGELABS = (
    "Broadcom / Symantec Email Security.cloud (MessageLabs) error codes: "
    "https://knowledge.broadcom.com/ (Email Security.cloud SMTP errors)"
)
RFC5321 = (
    "RFC 5321 section 4.2.3, reply codes in numeric order: https://www.rfc-editor.org/rfc/rfc5321"
)

DELIVERABLE = ("deliverable", "accepted")
NOT_FOUND = ("undeliverable", "mailbox_not_found")
FULL = ("risky", "mailbox_full")
BLOCKED = ("unknown", "blocked")
SENDER_REJECTED = ("unknown", "sender_rejected")
GREYLISTED = ("unknown", "greylisted")
UNAVAILABLE = ("unknown", "smtp_unavailable")
ERROR = ("unknown", "smtp_error")


@dataclass(frozen=True)
class Reply:
    provider: str
    documented: str
    raw: str  # as sent, "550-..." continuation lines included
    expected: tuple[str, str]
    stage: str = "rcpt"

    @property
    def code(self) -> int:
        return int(self.raw[:3])

    @property
    def text(self) -> str:
        return text_of(self.raw)


def text_of(raw: str) -> str:
    """The reply text as the prober reads it: each line without its code, joined by spaces."""
    return " ".join(line[4:] for line in raw.split("\n")).strip()


CORPUS: tuple[Reply, ...] = (
    # -- Gmail / Google Workspace ----------------------------------------------------------------
    Reply("Gmail", GOOGLE,
          "550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
          "550-5.1.1 double-checking the recipient's email address for typos or\n"
          "550-5.1.1 unnecessary spaces. Learn more at\n"
          "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si123 - gsmtp",
          NOT_FOUND),
    Reply("Gmail", GOOGLE,
          "550-5.2.1 The email account that you tried to reach is disabled. Learn more at\n"
          "550 5.2.1  https://support.google.com/mail/?p=DisabledUser a1si123 - gsmtp",
          NOT_FOUND),
    Reply("Gmail", GOOGLE,
          "452-4.2.2 The email account that you tried to reach is over quota. Please direct\n"
          "452 4.2.2 the recipient to https://support.google.com/mail/?p=OverQuotaTemp - gsmtp",
          FULL),
    Reply("Gmail", GOOGLE,
          "552-5.2.2 The email account that you tried to reach is over quota and inactive.\n"
          "552 5.2.2 https://support.google.com/mail/?p=OverQuotaPerm - gsmtp",
          FULL),
    Reply("Gmail", GOOGLE,
          "550-5.7.1 Our system has detected an unusual rate of unsolicited mail originating\n"
          "550-5.7.1 from your IP address. To protect our users from spam, mail sent from your\n"
          "550 5.7.1 IP address has been blocked. - gsmtp",
          BLOCKED),
    Reply("Gmail", GOOGLE,
          "550-5.7.26 This mail is unauthenticated, which poses a security risk to the sender\n"
          "550 5.7.26 and Gmail users, and has been blocked. - gsmtp",
          BLOCKED),
    Reply("Gmail", GOOGLE,
          "550-5.7.25 The IP address sending this message does not have a PTR record setup, or\n"
          "550 5.7.25 the corresponding forward DNS entry does not match the sending IP. - gsmtp",
          BLOCKED),
    Reply("Gmail", GOOGLE,
          "550 5.7.1 The user or domain that you are sending to (or from) has a policy that "
          "prohibited the mail that you sent. - gsmtp",
          BLOCKED),
    Reply("Gmail", GOOGLE,
          "553-5.1.2 We weren't able to find the recipient domain. Please check for any\n"
          "553 5.1.2 spelling errors. - gsmtp",
          ERROR),
    Reply("Gmail", GOOGLE,
          "450-4.2.1 The user you are trying to contact is receiving mail too quickly. Please\n"
          "450 4.2.1 resend your message at a later time. - gsmtp",
          GREYLISTED),
    Reply("Gmail", GOOGLE, "421-4.7.0 Try again later, closing connection. - gsmtp",
          UNAVAILABLE),
    Reply("Gmail", GOOGLE, "250 2.1.5 OK a1si123 - gsmtp", DELIVERABLE),
    # -- Microsoft 365 / Exchange Online / Outlook.com --------------------------------------------
    Reply("Microsoft 365", MS_5_1_10,
          "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient x@example.com not found by SMTP "
          "address lookup",
          NOT_FOUND),
    Reply("Microsoft 365", MS_5_4_1,
          "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) "
          "[AM0EUR01FT012.eop-EUR01.prod.protection.outlook.com]",
          NOT_FOUND),
    Reply("Microsoft 365", MS_NDR, "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", NOT_FOUND),
    Reply("Microsoft 365", MS_NDR,
          "550 5.7.1 Service unavailable, Client host [192.0.2.1] blocked using Spamhaus. "
          "To request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.1 "
          "(AS3130). [BN1NAM02FT012.eop-nam02.prod.protection.outlook.com]",
          BLOCKED),
    Reply("Microsoft 365", MS_5_7_606,
          "550 5.7.606 Access denied, banned sending IP [192.0.2.1]. To request removal from "
          "this list please visit https://sender.office.com/ and follow the directions.",
          BLOCKED),
    Reply("Microsoft 365", MS_NDR,
          "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.",
          BLOCKED),
    Reply("Microsoft 365", MS_NDR, "550 5.7.1 RESOLVER.RST.AuthRequired; authentication required",
          BLOCKED),
    Reply("Microsoft 365", MS_NDR,
          "550 5.7.133 RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required; "
          "Delivery restriction check failed as sender not authenticated",
          SENDER_REJECTED),
    Reply("Outlook.com", OUTLOOK_COM,
          "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
          "[DM6NAM12FT012.eop-nam12.prod.protection.outlook.com]",
          NOT_FOUND),
    Reply("Outlook.com", OUTLOOK_COM,
          "550 SC-001 (BAY004-MC1F39) Unfortunately, messages from 192.0.2.1 weren't sent. Please "
          "contact your Internet service provider since part of their network is on our block "
          "list. You can also refer your provider to "
          "http://mail.live.com/mail/troubleshooting.aspx#errors.",
          BLOCKED),
    Reply("Outlook.com", OUTLOOK_COM,
          "550 OU-001 (SNT004-MC1F43) Unfortunately, messages from 192.0.2.1 weren't sent. Please "
          "contact your Internet service provider. You can tell them that Hotmail does not relay "
          "dynamically-assigned IP ranges.",
          BLOCKED),
    Reply("Outlook.com", OUTLOOK_COM,
          "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your "
          "Internet service provider since part of their network is on our block list (S3150).",
          BLOCKED),
    Reply("Outlook.com", OUTLOOK_COM,
          "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP "
          "reputation.",
          GREYLISTED),
    # -- Yahoo / AOL -----------------------------------------------------------------------------
    Reply("Yahoo", YAHOO,
          "554 delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0] - "
          "mta1234.mail.bf1.yahoo.com",
          NOT_FOUND),
    Reply("Yahoo", YAHOO,
          "554 delivery error: dd Sorry your message to x@yahoo.com cannot be delivered. This "
          "mailbox is disabled (554.30). - mta1234.mail.bf1.yahoo.com",
          NOT_FOUND),
    Reply("Yahoo", YAHOO, "552 1 Requested mail action aborted, mailbox not found", NOT_FOUND),
    Reply("Yahoo", YAHOO,
          "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected "
          "volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
          UNAVAILABLE),
    Reply("Yahoo", YAHOO,
          "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is in "
          "Spamhaus's list; see https://postmaster.yahooinc.com/error-codes",
          BLOCKED),
    Reply("Yahoo", YAHOO,
          "554 5.7.9 Message not accepted for policy reasons. See "
          "https://postmaster.yahooinc.com/error-codes",
          BLOCKED),
    Reply("Yahoo", YAHOO, "451 Message temporarily deferred - [160]", GREYLISTED),
    Reply("AOL", AOL, "550 MAILBOX NOT FOUND", NOT_FOUND),
    # -- iCloud ----------------------------------------------------------------------------------
    Reply("iCloud", APPLE, "550 5.1.1 <x@icloud.com>: user does not exist", NOT_FOUND),
    Reply("iCloud", APPLE, "552 5.2.2 <x@icloud.com>: user is over quota", FULL),
    Reply("iCloud", APPLE,
          "554 5.7.1 [CS01] Message rejected due to local policy. Please visit "
          "https://support.apple.com/en-us/HT204137",
          BLOCKED),
    # -- Zoho ------------------------------------------------------------------------------------
    Reply("Zoho", ZOHO, "550 5.1.1 User does not exist - x@zoho.com", NOT_FOUND),
    Reply("Zoho", ZOHO, "554 5.7.1 Email rejected due to security policies", BLOCKED),
    Reply("Zoho", ZOHO, "553 Relaying disallowed as probe@verify.example", SENDER_REJECTED),
    Reply("Zoho", ZOHO, "552 5.2.2 Mailbox size limit exceeded", FULL),
    # -- GMX / WEB.DE ----------------------------------------------------------------------------
    Reply("GMX", GMX, "550 Requested action not taken: mailbox unavailable", NOT_FOUND),
    Reply("GMX", GMX, "552 Requested mail action aborted: exceeded storage allocation", FULL),
    Reply("GMX", GMX,
          "554-gmx.net (mxgmx012) Nemesis ESMTP Service not available\n"
          "554-No SMTP service\n"
          "554 IP address is block listed. For explanation visit "
          "https://www.gmx.net/mail/senderguidelines?ip=192.0.2.1",
          BLOCKED, stage="session"),
    Reply("GMX", GMX,
          "554-gmx.net (mxgmx012) Nemesis ESMTP Service not available\n"
          "554-No SMTP service\n"
          "554 Bad DNS PTR resource record.",
          BLOCKED, stage="session"),
    # -- Mimecast --------------------------------------------------------------------------------
    Reply("Mimecast", MIMECAST,
          "550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 [abc.uk1]",
          NOT_FOUND),
    Reply("Mimecast", MIMECAST,
          "550 Administrative prohibition - envelope blocked - "
          "https://community.mimecast.com/docs/DOC-1369#550",
          BLOCKED),
    Reply("Mimecast", MIMECAST,
          "451 Open relay not allowed - https://community.mimecast.com/docs/DOC-1369#451",
          BLOCKED),
    Reply("Mimecast", MIMECAST,
          "550 Rejected by header based Anti-Spoofing policy: x@example.com - "
          "https://community.mimecast.com/docs/DOC-1369#550",
          BLOCKED),
    Reply("Mimecast", MIMECAST,
          "451 Internal resources are temporarily unavailable - "
          "https://community.mimecast.com/docs/DOC-1369#451",
          GREYLISTED),
    Reply("Mimecast", MIMECAST,
          "550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550",
          BLOCKED),
    # -- Proofpoint ------------------------------------------------------------------------------
    Reply("Proofpoint", PROOFPOINT,
          "554 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1", BLOCKED),
    Reply("Proofpoint", PROOFPOINT, "550 5.1.1 User Unknown", NOT_FOUND),
    Reply("Proofpoint", PROOFPOINT, "550 5.7.1 Rejected by policy", BLOCKED),
    # -- Barracuda -------------------------------------------------------------------------------
    Reply("Barracuda", BARRACUDA,
          "550 permanent failure for one or more recipients (x@example.com:blocked)", BLOCKED),
    Reply("Barracuda", BARRACUDA,
          "554 Service unavailable; Client host [192.0.2.1] blocked using Barracuda Reputation; "
          "http://www.barracudanetworks.com/reputation/?r=1&ip=192.0.2.1",
          BLOCKED),
    Reply("Barracuda", BARRACUDA, "550 No such user (x@example.com)", NOT_FOUND),
    Reply("Barracuda", BARRACUDA,
          "550 permanent failure for one or more recipients (x@example.com:550 5.1.1 "
          "<x@example.com>: Recipient address rejected: User unknown in virtual alias table)",
          NOT_FOUND),
    # -- Postfix ---------------------------------------------------------------------------------
    Reply("Postfix (local)", POSTFIX_LOCAL,
          "550 5.1.1 <x@example.com>: Recipient address rejected: User unknown in local "
          "recipient table",
          NOT_FOUND),
    Reply("Postfix (virtual)", POSTFIX_VIRTUAL,
          "550 5.1.1 <x@example.com>: Recipient address rejected: User unknown in virtual "
          "mailbox table",
          NOT_FOUND),
    Reply("Postfix (virtual)", POSTFIX_VIRTUAL,
          "550 5.1.1 <x@example.com>: Recipient address rejected: User unknown in virtual alias "
          "table",
          NOT_FOUND),
    Reply("Postfix (relay)", POSTFIX_RELAY,
          "550 5.1.1 <x@example.com>: Recipient address rejected: User unknown in relay "
          "recipient table",
          NOT_FOUND),
    Reply("Postfix (sender checks)", POSTFIX_SENDER,
          "550 5.1.0 <probe@verify.example>: Sender address rejected: Domain not found",
          SENDER_REJECTED),
    Reply("Postfix (sender checks)", POSTFIX_SENDER,
          "450 4.1.8 <probe@verify.example>: Sender address rejected: Domain not found",
          SENDER_REJECTED),
    Reply("Postfix (sender checks)", POSTFIX_SENDER,
          "550 5.1.0 <probe@verify.example>: Sender address rejected: User unknown in local "
          "recipient table",
          SENDER_REJECTED),
    Reply("Postfix (sender checks)", POSTFIX_SENDER,
          "553 5.7.1 <probe@verify.example>: Sender address rejected: not logged in",
          SENDER_REJECTED),
    Reply("Postfix (sender checks)", POSTFIX_VERIFY,
          "450 4.1.7 <probe@verify.example>: Sender address rejected: unverified address: host "
          "mx.verify.example[192.0.2.9] said: 550 5.1.1 <probe@verify.example>: Recipient "
          "address rejected: User unknown",
          SENDER_REJECTED),
    Reply("Postfix (recipient verification)", POSTFIX_VERIFY,
          "550 5.1.1 <x@example.com>: Recipient address rejected: undeliverable address: host "
          "mail.example.com[192.0.2.7] said: 550 5.1.1 <x@example.com>: Recipient address "
          "rejected: User unknown",
          NOT_FOUND),
    Reply("Postfix (relay)", POSTFIX_CLIENT, "554 5.7.1 <x@example.com>: Relay access denied",
          BLOCKED),
    Reply("Postfix (RBL)", POSTFIX_RBL,
          "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; "
          "https://www.spamhaus.org/query/ip/192.0.2.1",
          BLOCKED),
    Reply("Postfix (client checks)", POSTFIX_CLIENT,
          "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.1]",
          BLOCKED),
    Reply("Postfix (client checks)", POSTFIX_CLIENT,
          "550 5.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.1]",
          BLOCKED),
    Reply("Postfix (HELO checks)", POSTFIX_CLIENT,
          "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname",
          BLOCKED),
    Reply("Postfix (access map)", POSTFIX_ACCESS,
          "554 5.7.1 <x@example.com>: Recipient address rejected: Access denied", BLOCKED),
    Reply("Postfix (recipient domain)", POSTFIX_CLIENT,
          "450 4.1.2 <x@example.com>: Recipient address rejected: Domain not found", GREYLISTED),
    Reply("Postfix (postgrey)", POSTGREY,
          "450 4.2.0 <x@example.com>: Recipient address rejected: Greylisted, see "
          "http://postgrey.schweikert.ch/help/example.com.html",
          GREYLISTED),
    # -- Exim ------------------------------------------------------------------------------------
    Reply("Exim", EXIM_ROUTING, "550 Unrouteable address", NOT_FOUND),
    Reply("Exim (sender callout)", EXIM_CALLOUT,
          "550-Verification failed for <probe@verify.example>\n"
          "550-Called:   192.0.2.9\n"
          "550-Sent:     RCPT TO:<probe@verify.example>\n"
          "550-Response: 550 5.1.1 <probe@verify.example>: Recipient address rejected: User "
          "unknown\n"
          "550 Sender verify failed",
          SENDER_REJECTED),
    Reply("Exim (recipient callout)", EXIM_CALLOUT,
          "550-Callout verification failed:\n550 550 5.1.1 User unknown", SENDER_REJECTED),
    Reply("Exim (dnslists)", EXIM_ACL,
          "550 rejected because 192.0.2.1 is in a black list at zen.spamhaus.org", BLOCKED),
    Reply("Exim (relay)", EXIM_ACL, "550 relay not permitted", BLOCKED),
    Reply("Exim (ACL deny)", EXIM_ACL, "550 Administrative prohibition", BLOCKED),
    Reply("Exim", EXIM_ACL, "451 Temporary local problem - please try later", GREYLISTED),
    # -- Sendmail --------------------------------------------------------------------------------
    Reply("Sendmail", SENDMAIL, "550 5.1.1 <x@example.com>... User unknown", NOT_FOUND),
    Reply("Sendmail", SENDMAIL, "550 5.7.1 <x@example.com>... Relaying denied", BLOCKED),
    Reply("Sendmail", SENDMAIL,
          "553 5.1.8 <probe@verify.example>... Domain of sender address probe@verify.example "
          "does not exist",
          SENDER_REJECTED),
    Reply("Sendmail", SENDMAIL, "550 5.7.1 <x@example.com>... Access denied", BLOCKED),
    Reply("Sendmail", SENDMAIL, "550 5.7.1 Rejected: 192.0.2.1 listed at zen.spamhaus.org",
          BLOCKED),
    # -- Dovecot (LMTP, quota) -------------------------------------------------------------------
    Reply("Dovecot", DOVECOT, "552 5.2.2 <x@example.com> Quota exceeded (mailbox for user is full)",
          FULL),
    Reply("Dovecot", DOVECOT, "452 4.2.2 <x@example.com> Quota exceeded (mailbox for user is full)",
          FULL),
    Reply("Dovecot (LMTP)", DOVECOT_LMTP, "550 5.1.1 <x@example.com> User doesn't exist: "
          "x@example.com", NOT_FOUND),
    # -- qmail, IronPort, MessageLabs, RFC 5321 wording ------------------------------------------
    Reply("qmail", QMAIL, "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
          BLOCKED),
    Reply("Cisco IronPort", IRONPORT, "550 #5.1.0 Address rejected.", ERROR),
    Reply("MessageLabs", MESSAGELABS,
          "553-you are trying to use me [server-4.tower-1.messagelabs.com] as a relay, but I\n"
          "553 have not been configured to let you (192.0.2.1, verify.example) do this.",
          BLOCKED),
    Reply("MessageLabs", MESSAGELABS, "550 Invalid recipient <x@example.com> (#5.1.1)", NOT_FOUND),
    Reply("RFC 5321", RFC5321, "553 Requested action not taken: mailbox name not allowed", ERROR),
    Reply("RFC 5321", RFC5321, "550 Rejected", ERROR),
    # -- Session-level refusals (greeting, MAIL FROM) --------------------------------------------
    Reply("Postfix (sender checks)", POSTFIX_SENDER,
          "553 5.1.8 <probe@verify.example>: Sender address rejected: Domain not found",
          SENDER_REJECTED, stage="session"),
    Reply("Postfix (postscreen)", POSTFIX_RBL,
          "554 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org",
          BLOCKED, stage="session"),
)  # fmt: skip
