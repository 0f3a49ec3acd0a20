from __future__ import annotations

from django.urls import path

from tests.testapp import views

urlpatterns = [
    path("components/", views.components, name="components"),
    path("log-in/", views.log_in, name="log-in"),
    path("log-out/", views.log_out, name="log-out"),
    path("password/", views.change_password, name="change-password"),
    path("rooms/<int:pk>/", views.room, name="room"),
    path("rooms/<int:pk>/bare/", views.bare_room, name="bare-room"),
    path("rooms/<int:pk>/say/", views.say, name="say"),
    path("rooms/<int:pk>/post/", views.post_message, name="post-message"),
    path("rooms/<int:pk>/sections/<int:number>/", views.section, name="section"),
    path("boards/<int:pk>/", views.board, name="board"),
    path("boards/<int:pk>/refresh/", views.refresh_board, name="refresh-board"),
    path("boards/<int:pk>/rename/", views.rename_board, name="rename-board"),
    path("boards/<int:pk>/note/", views.note_board, name="note-board"),
]
