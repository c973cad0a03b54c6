/* Training progress on stderr: a one-line bar redrawn in place when stderr is
 * a terminal, plain periodic lines otherwise (logs, nohup). */
#ifndef TR_PROGRESS_H
#define TR_PROGRESS_H

typedef struct tr_progress {
    int tty;
    double interval, last;
    int drawn;
} tr_progress;

void tr_progress_init(tr_progress *p, double interval);

/* Batch `batch` (1-based) of `nbatches` in epoch `epoch` (1-based) done;
 * eta_s is the rest of the epoch, run_s the rest of the run (< 0: unknown). */
void tr_progress_update(tr_progress *p, int epoch, int epochs, int batch, int nbatches,
                        double loss, double acc, double img_s, double eta_s, double run_s);

/* A phase message (e.g. "validating"); ends the bar line first. */
void tr_progress_note(tr_progress *p, const char *msg);

/* Clear the bar before other output. */
void tr_progress_clear(tr_progress *p);

/* "1:02:03" or "2:03". */
void tr_format_duration(char *buf, int n, double seconds);

#endif
