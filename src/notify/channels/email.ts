/**
 * E-mail over SMTP with nodemailer: STARTTLS when the server offers it (or `secure: true` for
 * implicit TLS), AUTH when `user` is set, any number of recipients, plain-text and HTML bodies.
 *
 * SMTP reply codes are the other way round from HTTP: 4xx is transient (retried), 5xx permanent
 * (not retried). Authentication and TLS certificate failures are not retried either.
 */
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { formatDuration } from '../../config/duration.js';
import { redact } from '../../config/secrets.js';
import { eventDetails, eventTitle, LEVEL_COLORS, type DeployEvent } from '../event.js';
import { renderTemplate } from '../templates.js';
import { describeNetworkError, type AttemptContext, type AttemptOutcome } from '../attempt.js';
import { codeInMessage } from '../../util/net-errors.js';

export interface EmailConfig {
  host: string;
  port: number;
  secure: boolean;
  user?: string;
  pass?: string;
  from: string;
  to: string[];
  subject?: string;
  insecure?: boolean;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export interface EmailMessage {
  subject: string;
  text: string;
  html: string;
}

export function emailMessage(cfg: Pick<EmailConfig, 'subject'>, event: DeployEvent, message: string): EmailMessage {
  const title = eventTitle(event);
  const rawSubject = cfg.subject && event.action !== 'test' ? renderTemplate(cfg.subject, event) : `[ee-deploy] ${title}${event.release ? ` (${event.release})` : ''}`;
  const subject = redact(rawSubject.replace(/[\r\n]+/g, ' ').trim());
  const details = eventDetails(event);
  const text = redact(
    [
      title,
      '',
      message,
      '',
      ...details.map((d) => (d.value.includes('\n') ? `${d.label}:\n${d.value}` : `${d.label}: ${d.value}`)),
      '',
      `-- `,
      `sent by ee-deploy at ${event.timestamp}`,
    ].join('\n'),
  );
  const color = LEVEL_COLORS[event.level];
  const rows = details
    .map(
      (d) =>
        `<tr><th align="left" valign="top" style="padding:2px 12px 2px 0;color:#555">${escapeHtml(d.label)}</th><td style="padding:2px 0;white-space:pre-wrap">${escapeHtml(d.value)}</td></tr>`,
    )
    .join('');
  const html = redact(
    `<!doctype html><html><body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#222">` +
      `<div style="border-left:4px solid ${color};padding:4px 12px;margin-bottom:12px">` +
      `<p style="margin:0 0 6px;font-weight:bold">${escapeHtml(title)}</p>` +
      `<p style="margin:0;white-space:pre-wrap">${escapeHtml(message)}</p></div>` +
      `<table cellspacing="0" cellpadding="0">${rows}</table>` +
      `<p style="color:#888;font-size:12px">sent by ee-deploy at ${escapeHtml(event.timestamp)}</p></body></html>`,
  );
  return { subject, text, html };
}

function firstLine(s: string | undefined): string {
  return (s ?? '').split(/\r?\n/)[0].trim();
}

function describeSmtpError(e: unknown, timeoutMs: number): { error: string; retryable: boolean } {
  const err = e as { code?: string; responseCode?: number; response?: string; message?: string; errno?: string; cause?: { code?: string } };
  const rc = err.responseCode;
  if (err.code === 'EAUTH') return { error: `authentication failed${rc ? ` (SMTP ${rc} ${firstLine(err.response).replace(/^\d{3}[ -]?/, '')})` : ''}`.trim(), retryable: false };
  if (rc) {
    const what = err.code === 'EENVELOPE' ? 'rejected' : 'error';
    return { error: `SMTP ${what}: ${firstLine(err.response) || rc}`, retryable: rc >= 400 && rc < 500 };
  }
  const msg = err.message ?? String(e);
  // a timeout is this attempt's own budget, whatever the socket said
  if (err.code === 'ETIMEDOUT' || /timeout/i.test(msg)) return { error: `timed out after ${formatDuration(timeoutMs)}`, retryable: false };
  const sys = codeInMessage(msg);
  if (sys) return describeNetworkError({ code: sys });
  if (err.code === 'ETLS' || /certificate|self[- ]signed|SSL|TLS/i.test(msg)) {
    // OpenSSL messages are long: keep the reason ("wrong version number", "self-signed certificate")
    const reason = /SSL routines:[^:]*:([^:]+)/.exec(msg)?.[1] ?? msg;
    const hint = /wrong version number|packet length too long|unknown protocol/i.test(reason) ? ' (is `secure` right for this port? 465 = secure: true, 587/25 = STARTTLS)' : '';
    return { error: `TLS error: ${reason}${hint}`, retryable: false };
  }
  if (err.code === 'ECONNECTION' || err.code === 'ESOCKET' || err.code === 'EDNS') return { error: msg, retryable: true };
  return { error: msg, retryable: false };
}

export async function sendEmail(cfg: EmailConfig, event: DeployEvent, message: string, ctx: AttemptContext): Promise<AttemptOutcome> {
  const mail = emailMessage(cfg, event, message);
  const options: SMTPTransport.Options = {
    host: cfg.host,
    port: cfg.port,
    secure: cfg.secure,
    ...(cfg.user ? { auth: { user: cfg.user, pass: cfg.pass ?? '' } } : {}),
    tls: { rejectUnauthorized: !cfg.insecure },
    connectionTimeout: ctx.timeoutMs,
    greetingTimeout: ctx.timeoutMs,
    socketTimeout: ctx.timeoutMs,
    disableFileAccess: true,
    disableUrlAccess: true,
  };
  const transport = nodemailer.createTransport(options);
  const sending = transport.sendMail({ from: cfg.from, to: cfg.to, subject: mail.subject, text: mail.text, html: mail.html, headers: { 'X-Ee-Deploy-Level': event.level } });
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Error('aborted'));
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
  });
  sending.catch(() => {});
  aborted.catch(() => {});
  try {
    await Promise.race([sending, aborted]);
    return { ok: true };
  } catch (e) {
    if (ctx.signal.aborted) return { ok: false, error: 'aborted', retryable: false };
    return { ok: false, ...describeSmtpError(e, ctx.timeoutMs) };
  } finally {
    if (onAbort) ctx.signal.removeEventListener('abort', onAbort);
    transport.close();
  }
}
