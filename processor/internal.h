/* internal.h - what the processors share, not part of processor.h. */
#ifndef PC_PROCESSOR_INTERNAL_H
#define PC_PROCESSOR_INTERNAL_H

#include "../component/component.h"
#include "../pdata/intern.h"

/* Hand what builder b holds to next, with client metadata md: as its
 * protobuf bytes when next takes them (pc_consumer_t.consume_encoded), which
 * saves decoding the samples into a tree that would only be encoded again;
 * else as the tree of pc_builder_request. Returns next's answer. */
int pc__hand_on(pc_builder_t *b, const pc_metadata_t *md, pc_consumer_t *next, pc_err_t *err);

#endif
