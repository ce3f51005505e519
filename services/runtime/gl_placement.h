/* gl_placement: where the standby copies of a partition's state live
 * (num.standby.replicas), as a pure function of what one instance knows:
 * the instances that own partitions now (their latest claims in the owners
 * topic, gl_owners.c) and itself. No I/O, no engine; unit-tested.
 *
 * The rule, the same on every instance so that they agree whenever they
 * know the same claims: put the known instances and this one in byte order
 * of their ids, as a ring; the standbys of a partition owned by O are the
 * `replicas` instances that follow O on the ring (fewer when the ring is
 * smaller). An instance that owns nothing is on its own ring only, so two
 * idle instances may both keep a copy, or neither: a standby is an
 * optimisation, never needed for correctness. */
#ifndef GREENLIGHT_GL_PLACEMENT_H
#define GREENLIGHT_GL_PLACEMENT_H

#include <stdbool.h>

/* True if `me` keeps a standby copy of a partition owned by `owner`, among
 * the ids known[0..n) (any order, repeats allowed; `me` and `owner` need
 * not be in it). False when me is the owner, owner is NULL, or replicas <= 0. */
bool gl_placement_is_standby(const char *const *known, int n, const char *owner, const char *me,
                             int replicas);

#endif
