/* internal.h - what the processors share, not part of processor.h. */
#ifndef PC_PROCESSOR_INTERNAL_H
#define PC_PROCESSOR_INTERNAL_H

#include "../component/component.h"
#include "../pdata/intern.h"

/* Hand what builder b holds to next, with client metadata md, now (on the
 * loop): as a finished body when next takes them (consume_encoded:
 * encoded from the builder's own samples and compressed for
 * next->encodings, without a tree), else as the tree of pc_builder_request.
 * For request-sized builders (dedup); a batch uses pc__flush. Returns
 * next's answer. */
int pc__hand_on(pc_builder_t *b, const pc_metadata_t *md, pc_consumer_t *next, pc_err_t *err);

/* ---- a batch's body, made in the thread pool ----------------------------------
 * Encoding a sealed builder and compressing the result take milliseconds
 * per MiB (hundreds for an 8 MiB gzip batch): on the loop, every
 * connection of the process would wait behind them. A flush job does both
 * in libuv's thread pool while the loop goes on filling the next batch; the
 * builder is only read there (pc_builder_encode), and the loop must leave
 * it alone until done runs. */
typedef struct pc__flush pc__flush_t;
struct pc__flush {
  uv_work_t work;
  pc_builder_t *b;    /* in: sealed; untouched by the loop until done */
  unsigned encodings; /* in: variants to make */
  pc_bytes_t *md;     /* in: client metadata for the body (reference taken), or NULL */
  pc_body_t *body;    /* out: one reference, or NULL when rc */
  int rc;             /* out: 0, PC_ENOMEM, or the codec's error */
  void (*done)(pc__flush_t *f); /* on the loop, once */
};

/* Start f (its in fields set) on loop; done(f) follows on the loop. */
void pc__flush_start(uv_loop_t *loop, pc__flush_t *f);

#endif
