"""The web console's pages under /allotment/ui/ (api/console.py): 404
unless ``[allotment] ui_enabled``, then the ``allotment:ui`` rule (and
for the explain and capacity forms, ``allotment:explain`` and
``allotment:capacity`` too, as their API)."""

from allotment import exceptions
from allotment.api import console
from allotment.api import http
from allotment.api.resource import Resource


class _Page(Resource):
    def _allow(self, req):
        if not self.conf.allotment.ui_enabled:
            raise exceptions.NotFound("The console is not enabled.")


class Index(_Page):
    def on_get(self, req, resp):
        self._allow(req)
        http.authorize_allotment(req, "ui")
        try:
            page = int(req.get_param("page") or 1)
        except ValueError:
            raise exceptions.BadRequest("page must be a number.") from None
        console.render(
            req,
            resp,
            "index.html",
            "Providers",
            **console.overview(self.db, page),
        )


class Search(_Page):
    def on_get(self, req, resp):
        self._allow(req)
        http.authorize_allotment(req, "ui")
        text = req.get_param("q") or ""
        results, consumer = console.search(self.db, text)
        found = {row.uuid for _kind, rows in results for row in rows}
        # A provider's or a consumer's uuid: its page.
        if text.strip() in found:
            return console.redirect(req, resp, "providers/" + text.strip())
        if consumer and not found:
            return console.redirect(req, resp, "consumers/" + consumer)
        console.render(
            req,
            resp,
            "search.html",
            "Search",
            query=text,
            results=results,
            consumer=consumer,
        )


class Provider(_Page):
    def on_get(self, req, resp, uuid):
        self._allow(req)
        http.authorize_allotment(req, "ui")
        view = console.tree(self.db, uuid)
        console.render(
            req, resp, "provider.html", view["provider"].name, **view
        )


class Consumer(_Page):
    def on_get(self, req, resp, uuid):
        self._allow(req)
        http.authorize_allotment(req, "ui")
        console.render(
            req,
            resp,
            "consumer.html",
            "Consumer " + uuid,
            **console.consumer(self.db, uuid),
        )


class Static(_Page):
    def on_get(self, req, resp, name):
        self._allow(req)
        http.authorize_allotment(req, "ui")
        console.send_static(resp, name)


class Explain(_Page):
    def on_get(self, req, resp):
        self._allow(req)
        http.authorize_allotment(req, "ui")
        http.authorize_allotment(req, "explain")
        query = console.Query.from_form(req)
        answer = console.explanation(self.db, self.conf, query)
        console.render(
            req,
            resp,
            "explain.html",
            "Explain a candidates query",
            form=query,
            answer=answer,
        )


class Capacity(_Page):
    def on_get(self, req, resp):
        self._allow(req)
        http.authorize_allotment(req, "ui")
        http.authorize_allotment(req, "capacity")
        query = console.Query.from_form(req)
        answer = console.room_for(self.db, query)
        console.render(
            req,
            resp,
            "capacity.html",
            "Room for a request",
            form=query,
            answer=answer,
        )
