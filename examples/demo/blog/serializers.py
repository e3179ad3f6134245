"""Plain-Python stand-ins for DRF serializers: sync code that walks relations per object.

An async view hands them its rows through ``sync_to_async``; whatever relation the queryset
did not load is fetched here, one query per object, in the sync thread.
"""


def serialize_tag(tag):
    return {"name": tag.name}


def serialize_article(article):
    author = article.author  # forward FK: a query unless select_related("author")
    return {
        "title": article.title,
        "author": author.name,
        "bio": author.profile.bio,  # OneToOne: a query unless select_related("author__profile")
        "tags": [serialize_tag(t) for t in article.tags.all()],  # M2M: prefetch_related("tags")
    }


def serialize_articles(articles):
    return [serialize_article(a) for a in articles]
