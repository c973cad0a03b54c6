/* covidcam-server: an HTTP inference server with a try-it web page. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "options.h"
#include "router.h"
#include "server.h"

static const char *prog = "covidcam-server";

double server_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef union addr {
    struct sockaddr sa;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
} addr;

static int parse_host(const char *host, int port, addr *a)
{
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, host, &a->v4.sin_addr) == 1) {
        a->v4.sin_family = AF_INET;
        a->v4.sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a->v6.sin6_addr) == 1) {
        a->v6.sin6_family = AF_INET6;
        a->v6.sin6_port = htons((uint16_t)port);
        return 0;
    }
    return -1;
}

static struct MHD_Daemon *start_daemon(server *srv, const addr *a)
{
    const server_options *o = srv->opt;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (a->sa.sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* Connections beyond the pool and the queue only wait for cheap routes or
     * get 503; past this limit MHD refuses them outright. */
    unsigned limit = (unsigned)(o->workers + o->queue + 64);
    return MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, router_access, srv, MHD_OPTION_SOCK_ADDR, &a->sa,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        limit, MHD_OPTION_NOTIFY_COMPLETED, router_completed, srv, MHD_OPTION_END);
}

static void print_startup(const server *srv, struct MHD_Daemon *d)
{
    const server_options *o = srv->opt;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : (unsigned)o->port;
    int v6 = strchr(o->host, ':') != NULL;
    printf("%s: listening on http://%s%s%s:%u/ model %s (%s, %d x %d x %d), classes", prog,
           v6 ? "[" : "", o->host, v6 ? "]" : "", port, o->model,
           covidcam_model_arch(srv->model), covidcam_model_input_channels(srv->model),
           covidcam_model_input_size(srv->model), covidcam_model_input_size(srv->model));
    for (int i = 0; i < covidcam_model_num_classes(srv->model); i++)
        printf("%s%s", i ? "," : " ", covidcam_model_class_name(srv->model, i));
    printf(", precision %s, %d workers x %d threads, queue %d\n",
           covidcam_precision_name(pool_precision(srv->pool)), o->workers,
           o->threads_per_worker, o->queue);
    fflush(stdout);
}

/* Block SIGINT and SIGTERM in every thread (started after this) so that
 * main can take them with sigwait. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Stop accepting, let the requests in progress finish (within the
 * connection timeout), then stop. */
static void drain(server *srv, struct MHD_Daemon *d)
{
    MHD_socket fd = MHD_quiesce_daemon(d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += srv->opt->timeout_s + 1;
    pthread_mutex_lock(&srv->lock);
    while (srv->in_flight > 0)
        if (pthread_cond_timedwait(&srv->idle, &srv->lock, &until) == ETIMEDOUT)
            break;
    int left = srv->in_flight;
    pthread_mutex_unlock(&srv->lock);
    if (left)
        fprintf(stderr, "%s: stopping with %d requests unfinished\n", prog, left);
    MHD_stop_daemon(d);
}

static int serve(server *srv, sigset_t *set)
{
    addr a;
    int sig;
    if (parse_host(srv->opt->host, srv->opt->port, &a)) {
        fprintf(stderr, "%s: --host needs a numeric IPv4 or IPv6 address, not '%s'\n", prog,
                srv->opt->host);
        return 2;
    }
    struct MHD_Daemon *d = start_daemon(srv, &a);
    if (!d) {
        fprintf(stderr, "%s: cannot listen on %s port %d: %s\n", prog, srv->opt->host,
                srv->opt->port, strerror(errno));
        return 1;
    }
    print_startup(srv, d);
    while (sigwait(set, &sig) == 0 && sig != SIGINT && sig != SIGTERM)
        ;
    fprintf(stderr, "%s: %s: finishing the requests in progress\n", prog,
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    drain(srv, d);
    return 0;
}

int main(int argc, char **argv)
{
    server_options o;
    sigset_t set;
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_model *model = NULL;
    int rc = options_parse(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    block_signals(&set);
    server srv = {.opt = &o};
    pthread_mutex_init(&srv.lock, NULL);
    pthread_cond_init(&srv.idle, NULL);
    covidcam_status st = covidcam_model_load(o.model, &model, err, sizeof err);
    if (st) {
        fprintf(stderr, "%s: cannot load model %s: %s: %s\n", prog, o.model,
                covidcam_status_string(st), err);
        rc = 1;
        goto done;
    }
    srv.model = model;
    st = pool_create(model, o.workers, o.threads_per_worker, o.precision, o.queue, &srv.pool,
                     err, sizeof err);
    if (st) {
        fprintf(stderr, "%s: cannot create %d sessions (--precision %s): %s: %s\n", prog,
                o.workers, o.precision_name, covidcam_status_string(st), err);
        rc = 1;
        goto done;
    }
    if (!(srv.metrics = metrics_create())) {
        fprintf(stderr, "%s: out of memory\n", prog);
        rc = 1;
        goto done;
    }
    rc = serve(&srv, &set);
done:
    pool_free(srv.pool);
    metrics_free(srv.metrics);
    covidcam_model_free(model);
    pthread_cond_destroy(&srv.idle);
    pthread_mutex_destroy(&srv.lock);
    return rc;
}
