/*
 * list.h - intrusive circular doubly linked lists (the Linux kernel idea):
 * a node lives inside the object, so moving an object between lists never
 * allocates, and "each state is exactly one list" stays cheap.
 */
#ifndef PGTIDE_LIST_H
#define PGTIDE_LIST_H

#include "common.h"

typedef struct list_node {
	struct list_node *next, *prev;
} list_node_t;

static inline void list_init(list_node_t *head)
{
	head->next = head->prev = head;
}

static inline bool list_empty(const list_node_t *head)
{
	return head->next == head;
}

/* A node that is in no list points to itself (after list_init or list_del). */
static inline bool list_linked(const list_node_t *node)
{
	return node->next != node;
}

static inline void list_insert_between(list_node_t *n, list_node_t *prev, list_node_t *next)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

static inline void list_push_back(list_node_t *head, list_node_t *n)
{
	list_insert_between(n, head->prev, head);
}

static inline void list_push_front(list_node_t *head, list_node_t *n)
{
	list_insert_between(n, head, head->next);
}

static inline void list_del(list_node_t *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}

static inline list_node_t *list_first(const list_node_t *head)
{
	return list_empty(head) ? NULL : head->next;
}

static inline list_node_t *list_pop_front(list_node_t *head)
{
	list_node_t *n = list_first(head);
	if (n)
		list_del(n);
	return n;
}

#define list_entry(ptr, type, member) container_of(ptr, type, member)

#define list_for_each(pos, head) for (pos = (head)->next; pos != (head); pos = pos->next)

#define list_for_each_safe(pos, tmp, head) \
	for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)

#endif
