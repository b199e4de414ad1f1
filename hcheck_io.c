/* hcheck_io.c: a health check's transport (see hcheck_io.h).
 *
 * Plain checks use the socket directly.  For TLS the socket becomes a
 * conn_rec of its own, outside mod_proxy's connection pools (a check must
 * not take a connection requests could use): marked outgoing and bound to
 * the member's configuration with ap_ssl_bind_outgoing, then the
 * pre_connection hooks add the core and mod_ssl filters, and data goes
 * through them.  The socket's timeout still bounds every read and write,
 * the handshake included.  Everything lives in the check's pool. */
#include "hcheck_io.h"

#include "http_connection.h"
#include "http_ssl.h"

APLOG_USE_MODULE(lbx);

apr_status_t lbx_hc_io_tls(struct lbx_hc_io *io, apr_pool_t *p, server_rec *s,
                           proxy_worker *w, const char *sni)
{
    apr_bucket_alloc_t *ba = apr_bucket_alloc_create(p);
    ap_conf_vector_t *dir = w->section_config ? w->section_config
        : w->balancer && w->balancer->section_config
        ? w->balancer->section_config
        : s->lookup_defaults;
    conn_rec *c = ap_run_create_connection(p, s, io->sock, 0, NULL, ba);

    if (!c) {
        return APR_EGENERAL;
    }
    /* mod_ssl sends this name as SNI and checks the certificate against it
     * (SSLProxyCheckPeerName), as for a proxied request. */
    apr_table_setn(c->notes, "proxy-request-hostname", sni);
    if (ap_ssl_bind_outgoing(c, dir, 1) != OK) {
        return APR_ENOTIMPL;
    }
    ap_run_pre_connection(c, io->sock);
    if (c->aborted) {
        return APR_ECONNABORTED;
    }
    io->c = c;
    io->bb = apr_brigade_create(p, ba);
    return APR_SUCCESS;
}

apr_status_t lbx_hc_io_send(struct lbx_hc_io *io, const char *buf,
                            apr_size_t len)
{
    apr_status_t rv;

    if (io->c) {
        APR_BRIGADE_INSERT_TAIL(
            io->bb, apr_bucket_transient_create(buf, len, io->c->bucket_alloc));
        APR_BRIGADE_INSERT_TAIL(io->bb,
                                apr_bucket_flush_create(io->c->bucket_alloc));
        rv = ap_pass_brigade(io->c->output_filters, io->bb);
        apr_brigade_cleanup(io->bb);
        return rv != APR_SUCCESS ? rv
            : io->c->aborted     ? APR_ECONNABORTED
                                 : APR_SUCCESS;
    }
    while (len > 0) {
        apr_size_t n = len;

        if ((rv = apr_socket_send(io->sock, buf, &n)) != APR_SUCCESS) {
            return rv;
        }
        buf += n;
        len -= n;
    }
    return APR_SUCCESS;
}

apr_status_t lbx_hc_io_recv(struct lbx_hc_io *io, char *buf, apr_size_t *len)
{
    apr_size_t want = *len;
    apr_status_t rv;
    int eos;

    if (!io->c) {
        return apr_socket_recv(io->sock, buf, len);
    }
    *len = 0;
    rv = ap_get_brigade(io->c->input_filters, io->bb, AP_MODE_READBYTES,
                        APR_BLOCK_READ, (apr_off_t)want);
    if (rv == APR_SUCCESS) {
        eos = !APR_BRIGADE_EMPTY(io->bb)
            && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(io->bb));
        *len = want;
        rv = apr_brigade_flatten(io->bb, buf, len);
        if (rv == APR_SUCCESS && *len == 0
            && (eos || APR_BRIGADE_EMPTY(io->bb))) {
            rv = APR_EOF;
        }
    }
    apr_brigade_cleanup(io->bb);
    return rv;
}
